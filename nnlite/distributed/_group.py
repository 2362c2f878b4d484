"""Process groups on MPI communicators: init_process_group, new_group, ranks and sizes.

MPI is imported the first time a group is made, never at `import nnlite`: importing
mpi4py's MPI module initialises MPI, which a single-process user must not pay for.
"""
import datetime
import importlib.util
import os
import sys
import warnings

# torch's default for every backend but NCCL
default_pg_timeout = datetime.timedelta(minutes=30)

_NOT_INITIALISED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")


def _mpi():
    from mpi4py import MPI
    return MPI


class Backend(str):
    """The one backend nnlite has. `Backend("mpi")` and `Backend.MPI` as in torch."""

    MPI = "mpi"
    UNDEFINED = "undefined"

    def __new__(cls, name):
        name = str(name).lower()
        if name != "mpi":
            raise ValueError(f"Invalid backend: '{name}'; nnlite.distributed runs on MPI only ('mpi')")
        return str.__new__(cls, name)


class ProcessGroup:
    """A set of processes sharing an MPI communicator; `ranks` are their ranks in the world."""

    def __init__(self, comm, ranks, timeout):
        self.comm = comm
        self.ranks = tuple(ranks)
        self.timeout = timeout
        self.broken = None  # the message of a collective that timed out: the group is unusable then
        self._group_rank_of = {r: i for i, r in enumerate(self.ranks)}

    def rank(self):
        return self.comm.Get_rank()

    def size(self):
        return len(self.ranks)

    def group_rank(self, global_rank, what):
        """This group's rank of a world rank; a clear error for a rank outside it."""
        try:
            return self._group_rank_of[global_rank]
        except (KeyError, TypeError):
            raise ValueError(f"{what}: rank {global_rank} is not part of the group (its ranks are "
                             f"{list(self.ranks)})") from None

    def timeout_seconds(self):
        return self.timeout.total_seconds()

    def name(self):
        return "mpi"

    def __repr__(self):
        return f"ProcessGroup(backend='mpi', ranks={list(self.ranks)})"


class _NonGroupMember:
    def __repr__(self):
        return "GroupMember.NON_GROUP_MEMBER"


class GroupMember:
    """torch's markers: WORLD is the default group once initialised; NON_GROUP_MEMBER is what
    new_group returns on a process outside the new group."""
    WORLD = None
    NON_GROUP_MEMBER = _NonGroupMember()


class group:  # noqa: N801  (torch's spelling: dist.group.WORLD)
    WORLD = None


_world = None        # the default ProcessGroup
_groups = []         # every group made by new_group, freed by destroy_process_group
_excepthook = None   # the hook replaced by ours


def is_available():
    """True when mpi4py is installed (with an MPI library, e.g. `pip install mpi4py mpich`)."""
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available


def is_nccl_available():
    return False


def is_gloo_available():
    return False


def is_initialized():
    return _world is not None


def _accepted_backend(backend):
    """'mpi' (or None). torch scripts ask for 'nccl' or 'gloo'; both run on MPI here, said once."""
    if backend is None:
        return Backend.MPI
    name = str(backend).lower()
    parts = {p.split(":")[-1] for p in name.split(",")}  # "cpu:gloo,cuda:nccl"
    if parts - {"mpi", "gloo", "nccl"}:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; nnlite.distributed runs on MPI "
                         "(backend='mpi')")
    if parts != {"mpi"}:
        warnings.warn(f"init_process_group: nnlite.distributed runs on MPI; backend {backend!r} is served by "
                      "MPI", stacklevel=3)
    return Backend.MPI


def _check_size(name, given, actual, env):
    if given is None or int(given) < 0:
        given = os.environ.get(env)
    if given is not None and int(given) != actual:
        raise ValueError(f"init_process_group: {name} is {given} but MPI started this process with "
                         f"{name} {actual} (launch with `mpiexec -n N`)")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the processes that mpiexec started. Rank and world size come from MPI; a world_size or
    rank given here (or in WORLD_SIZE / RANK, as an env:// launch sets them) must agree with it.
    init_method and store are accepted and unused: MPI has already connected the processes."""
    if _world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    _accepted_backend(backend)
    if timeout is None:
        timeout = default_pg_timeout
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got {type(timeout).__name__}")
    if not is_available():
        raise RuntimeError("init_process_group: nnlite.distributed needs mpi4py and an MPI library: "
                           "pip install 'nnlite[distributed]' (or: pip install mpi4py mpich)")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()  # our own context: user MPI traffic on COMM_WORLD never matches ours
    size = comm.Get_size()
    _check_size("world_size", world_size, size, "WORLD_SIZE")
    _check_size("rank", rank, comm.Get_rank(), "RANK")
    _set_world(ProcessGroup(comm, range(size), timeout))
    _abort_job_on_uncaught_exception()


def _set_world(pg):
    global _world
    _world = GroupMember.WORLD = group.WORLD = pg


def _abort_job_on_uncaught_exception():
    """A rank that dies of an exception takes the whole job down at once (as torchrun stops the
    other workers when one fails) instead of leaving them blocked in their next collective."""
    global _excepthook
    if _excepthook is not None or _world.size() == 1:
        return
    _excepthook = sys.excepthook

    def hook(kind, value, tb):
        _excepthook(kind, value, tb)
        if _world is not None and not issubclass(kind, KeyboardInterrupt):
            sys.stderr.flush()
            _mpi().COMM_WORLD.Abort(1)
    sys.excepthook = hook


def destroy_process_group(group=None):
    """Free `group`, or every group and the default one."""
    global _excepthook
    target = _resolve(group, "destroy_process_group")
    if target is GroupMember.NON_GROUP_MEMBER:
        return
    if group is not None and target is not _world:
        _free(target)
        _groups.remove(target)
        return
    for g in _groups:
        _free(g)
    _groups.clear()
    _free(_world)
    _set_world(None)
    if _excepthook is not None:
        sys.excepthook, _excepthook = _excepthook, None


def _free(pg):
    if pg.comm is not None:
        pg.comm.Free()
        pg.comm = None


def _resolve(group, what):
    """The ProcessGroup a call means (None: the default one); raises before init_process_group."""
    if _world is None:
        raise ValueError(f"{what}: {_NOT_INITIALISED}")
    if group is None or group is GroupMember.WORLD:
        return _world
    if group is GroupMember.NON_GROUP_MEMBER or isinstance(group, ProcessGroup):
        if isinstance(group, ProcessGroup) and group.comm is None:
            raise ValueError(f"{what}: the group has been destroyed")
        return group
    raise TypeError(f"{what}: group must be a ProcessGroup from new_group (or None), got {type(group).__name__}")


def get_rank(group=None):
    """This process's rank in `group` (-1 outside it)."""
    pg = _resolve(group, "get_rank")
    return -1 if pg is GroupMember.NON_GROUP_MEMBER else pg.rank()


def get_world_size(group=None):
    """The number of processes in `group` (-1 outside it)."""
    pg = _resolve(group, "get_world_size")
    return -1 if pg is GroupMember.NON_GROUP_MEMBER else pg.size()


def get_backend(group=None):
    _resolve(group, "get_backend")
    return Backend.MPI


def get_process_group_ranks(group):
    pg = _resolve(group, "get_process_group_ranks")
    return list(pg.ranks)


def get_global_rank(group, group_rank):
    pg = _resolve(group, "get_global_rank")
    if not 0 <= group_rank < pg.size():
        raise ValueError(f"get_global_rank: group rank {group_rank} is outside the group of {pg.size()}")
    return pg.ranks[group_rank]


def get_group_rank(group, global_rank):
    pg = _resolve(group, "get_group_rank")
    return pg.group_rank(global_rank, "get_group_rank")


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A group of some world ranks (all of them when None). Every process calls it, as in torch;
    a process outside `ranks` gets GroupMember.NON_GROUP_MEMBER."""
    world = _resolve(None, "new_group")
    _accepted_backend(backend)
    size = world.size()
    ranks = list(range(size)) if ranks is None else sorted(int(r) for r in ranks)
    bad = [r for r in ranks if not 0 <= r < size]
    if bad or len(set(ranks)) != len(ranks):
        raise ValueError(f"new_group: ranks must be distinct ranks of the world of {size}, got {ranks}")
    members = world.comm.Get_group().Incl(ranks)
    comm = world.comm.Create(members)  # collective over the world, as torch's new_group
    members.Free()
    if comm == _mpi().COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    pg = ProcessGroup(comm, ranks, timeout or world.timeout)
    _groups.append(pg)
    return pg
