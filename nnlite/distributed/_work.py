"""Waiting on MPI requests with a timeout, and the Work handle an async collective returns."""
import atexit
import time


class DistError(RuntimeError):
    """torch.distributed.DistError: an error of a distributed call."""


class DistBackendError(DistError):
    """A collective that did not complete (the other ranks never joined it in time)."""


_SPIN_S = 1e-3       # short collectives finish within this: poll without yielding the core
_MAX_PAUSE_S = 1e-3  # then sleep between polls, doubling up to this


def wait_request(request, pg, what):
    """Wait for one MPI request; past the group's timeout, raise DistBackendError.

    Polling (rather than MPI's blocking wait) is what makes the timeout possible; sleeping once the
    first millisecond has passed leaves the core to the ranks still computing, which matters when
    ranks share cores."""
    if request.Test():
        return
    start = time.perf_counter()
    deadline = start + pg.timeout_seconds()
    pause = 0.0
    while not request.Test():
        now = time.perf_counter()
        if now > deadline:
            _mark_broken(pg, what)
        if now - start > _SPIN_S:
            pause = min(max(2 * pause, 2e-5), _MAX_PAUSE_S)
            time.sleep(pause)


def _mark_broken(pg, what):
    """A request that never completed leaves MPI mid-collective: the group is unusable, and the job
    ends with an MPI abort at exit rather than hang in MPI_Finalize."""
    message = (f"{what}: timed out after {pg.timeout_seconds():g} s waiting for the other ranks of the group; "
               "a rank may have failed or be running a different collective (the timeout is "
               "init_process_group's `timeout`)")
    if pg.broken is None:
        pg.broken = message
        atexit.register(_abort_job)
    raise DistBackendError(message)


def _abort_job():
    from ._group import _mpi
    _mpi().COMM_WORLD.Abort(1)


def check_usable(pg, what):
    if pg.broken is not None:
        raise DistBackendError(f"{what}: the process group is unusable after an earlier failure: {pg.broken}")


class Work:
    """The handle of an async_op=True call: wait() blocks until the data is in place (and returns
    True), is_completed() polls without blocking; `finish` runs once, after the last request."""

    def __init__(self, pg, what, requests, finish=None, result=None):
        self._pg = pg
        self._what = what
        self._requests = list(requests)
        self._finish = finish
        self._result = result or []
        self._done = False
        self._exception = None

    def wait(self, timeout=None):
        if self._done:
            return True
        try:
            for request in self._requests:
                wait_request(request, self._pg, self._what)
        except DistBackendError as err:
            self._exception = err
            raise
        self._complete()
        return True

    synchronize = wait

    def is_completed(self):
        if self._done:
            return True
        if all(r.Test() for r in self._requests):
            self._complete()
        return self._done

    def is_success(self):
        return self._done and self._exception is None

    def exception(self):
        return self._exception

    def result(self):
        """The tensors the call wrote (after wait())."""
        self.wait()
        return list(self._result)

    def _complete(self):
        self._done = True
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()


def issue(pg, what, requests, finish, async_op, result=None):
    """Return the Work of an async call; complete a synchronous one before returning None."""
    work = Work(pg, what, requests, finish, result)
    if async_op:
        return work
    work.wait()
    return None
