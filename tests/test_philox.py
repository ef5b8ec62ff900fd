"""The counter-based stream of the compiled generators: Philox4x32-10 known answers, one function for numpy
scalars, numpy arrays and numba, the uniform map and the seed split."""
import numpy as np
import pytest

from bbgen.generator.philox import philox4x32, split_seed, uniform

# Random123 kat_vectors, "philox4x32 10": counter (4 words), key (2 words) -> output (4 words)
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_known_answers(counter, key, expected):
    out = philox4x32(*(np.uint64(w) for w in counter + key))
    assert tuple(int(w) for w in out) == expected


def test_vectorised_and_compiled_agree_with_scalar():
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    words = rng.integers(0, 1 << 32, (6, 64), dtype=np.uint64)
    vec = np.stack(philox4x32(*words))
    jit = numba.njit(philox4x32)
    for j in range(words.shape[1]):
        col = [np.uint64(w) for w in words[:, j]]
        assert [int(w) for w in philox4x32(*col)] == vec[:, j].tolist() == [int(w) for w in jit(*col)]
    assert vec.max() < (1 << 32)


def test_uniform_is_open_unit_interval_and_seed_split():
    u = uniform(np.array([0, 1, (1 << 32) - 1], dtype=np.uint64))
    assert 0 < u[0] < u[1] < u[2] < 1 and u[0] == 2.0 ** -33
    assert split_seed((7 << 32) | 9) == (9, 7) and split_seed(-1) == (0xFFFFFFFF, 0xFFFFFFFF)
