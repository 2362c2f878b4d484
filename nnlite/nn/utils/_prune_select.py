"""Which k entries torch.topk picks on the CPU, ties included (host helper of prune.py).

torch's CPU topk puts (value, index) pairs in a vector and runs std::partial_sort
(when k * 64 <= n) or std::nth_element on the values alone, so among equal values
the winners depend on how libstdc++'s heap-select / introselect move the pairs
around. Pruning masks built from |w| (zeros from an earlier pruning, a zero-filled
bias) hit such ties, and a mask that differs from torch's changes the model. So
when the k-th value is tied across the cut, `topk_indices` replays the same
selection steps on the pairs; otherwise numpy's argpartition gives the same set
at once. Only the set matters for a mask, never its order.

The replay is serial by nature (one pass of selection over one vector), runs on
the host once per pruning call, and has no CUDA twin: pruning copies the scores
to the host, builds the mask there and sends it back to the tensor's device.
"""
import numpy as np
from numba import njit


@njit(inline="always", cache=True)
def _before(a, b, largest):
    """torch's comparator: NaN counts as the largest value (numpy's order)."""
    if largest:
        return (np.isnan(a) and not np.isnan(b)) or a > b
    return (not np.isnan(a) and np.isnan(b)) or a < b


@njit(cache=True)
def _swap(vals, idx, i, j):
    vals[i], vals[j] = vals[j], vals[i]
    idx[i], idx[j] = idx[j], idx[i]


@njit(cache=True)
def _push_heap(vals, idx, first, hole, top, value, index, largest):
    parent = (hole - 1) // 2
    while hole > top and _before(vals[first + parent], value, largest):
        vals[first + hole] = vals[first + parent]
        idx[first + hole] = idx[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    vals[first + hole] = value
    idx[first + hole] = index


@njit(cache=True)
def _adjust_heap(vals, idx, first, hole, length, value, index, largest):
    # sift the hole down to a leaf along the larger children, then push the value up
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if _before(vals[first + child], vals[first + child - 1], largest):
            child -= 1
        vals[first + hole] = vals[first + child]
        idx[first + hole] = idx[first + child]
        hole = child
    if (length & 1) == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        vals[first + hole] = vals[first + child - 1]
        idx[first + hole] = idx[first + child - 1]
        hole = child - 1
    _push_heap(vals, idx, first, hole, top, value, index, largest)


@njit(cache=True)
def _heap_select(vals, idx, first, middle, last, largest):
    """Keep in [first, middle) the best middle-first entries of [first, last)."""
    length = middle - first
    if length >= 2:
        parent = (length - 2) // 2
        while True:
            _adjust_heap(vals, idx, first, parent, length, vals[first + parent], idx[first + parent], largest)
            if parent == 0:
                break
            parent -= 1
    for i in range(middle, last):
        if _before(vals[i], vals[first], largest):
            value, index = vals[i], idx[i]
            vals[i], idx[i] = vals[first], idx[first]
            _adjust_heap(vals, idx, first, 0, length, value, index, largest)


@njit(cache=True)
def _median_to_first(vals, idx, result, a, b, c, largest):
    if _before(vals[a], vals[b], largest):
        if _before(vals[b], vals[c], largest):
            _swap(vals, idx, result, b)
        elif _before(vals[a], vals[c], largest):
            _swap(vals, idx, result, c)
        else:
            _swap(vals, idx, result, a)
    elif _before(vals[a], vals[c], largest):
        _swap(vals, idx, result, a)
    elif _before(vals[b], vals[c], largest):
        _swap(vals, idx, result, c)
    else:
        _swap(vals, idx, result, b)


@njit(cache=True)
def _partition(vals, idx, first, last, pivot, largest):
    while True:
        while _before(vals[first], vals[pivot], largest):
            first += 1
        last -= 1
        while _before(vals[pivot], vals[last], largest):
            last -= 1
        if not first < last:
            return first
        _swap(vals, idx, first, last)
        first += 1


@njit(cache=True)
def _insertion_sort(vals, idx, first, last, largest):
    for i in range(first + 1, last):
        value, index = vals[i], idx[i]
        if _before(value, vals[first], largest):
            for j in range(i, first, -1):
                vals[j], idx[j] = vals[j - 1], idx[j - 1]
            vals[first], idx[first] = value, index
        else:
            j = i
            while _before(value, vals[j - 1], largest):
                vals[j], idx[j] = vals[j - 1], idx[j - 1]
                j -= 1
            vals[j], idx[j] = value, index


@njit(cache=True)
def _nth_element(vals, idx, nth, largest):
    first, last = 0, vals.size
    if nth == last:
        return
    depth = 0
    n = last
    while n > 1:                     # depth limit: 2 * floor(log2(n))
        n >>= 1
        depth += 1
    depth *= 2
    while last - first > 3:
        if depth == 0:
            _heap_select(vals, idx, first, nth + 1, last, largest)
            _swap(vals, idx, first, nth)
            return
        depth -= 1
        _median_to_first(vals, idx, first, first + 1, first + (last - first) // 2, last - 1, largest)
        cut = _partition(vals, idx, first + 1, last, first, largest)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(vals, idx, first, last, largest)


@njit(cache=True)
def replay_topk(vals, k, largest):
    """Indices of the k entries torch's CPU topk returns (as a set), by its own steps."""
    n = vals.size
    vals = vals.copy()
    idx = np.arange(n)
    if k * 64 <= n:
        _heap_select(vals, idx, 0, k, n, largest)     # partial_sort's selection step
    else:
        _nth_element(vals, idx, k - 1, largest)
    return idx[:k].copy()


def _tie_at_cut(values, k, largest):
    """True when argpartition alone could pick a different set than torch: a tie or NaN at the cut."""
    if np.isnan(values).any():
        return True
    key = -values if largest else values
    kth = np.partition(key, k - 1)[k - 1]
    return np.count_nonzero(key <= kth) > k


def topk_indices(values, k, largest):
    """The set of indices torch.topk(values, k, largest=largest) returns for a 1-D float array."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if _tie_at_cut(values, k, largest):
        return replay_topk(values, k, largest)
    key = -values if largest else values
    return np.argpartition(key, k - 1)[:k].astype(np.int64)
