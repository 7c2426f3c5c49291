"""The visibility hook over every registered world: a world lists movable state variables
(exactly one reference) that address its sim state, or says in one line that it has none."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from physjepa.worlds import WorldError, make, names


@pytest.mark.parametrize("name", names())
def test_variables_address_the_sim_state_and_moves_render(name):
    world = make(name, image_size=32)
    world.reset(seed=0)
    try:
        variables = world.visibility_variables()
    except WorldError as e:
        assert "\n" not in str(e) and name in str(e)
        return
    assert sum(v.reference for v in variables.values()) == 1
    start = world.sim_state()
    before = world.render()
    shown = 0
    for var_name, var in variables.items():
        assert var.span > 0, var_name
        assert all(0 <= i < len(start[var.key]) for i in var.index), var_name
        moved = copy.deepcopy(start)
        for i in var.index:
            moved[var.key][i] += 0.1 * var.span
        if world.valid_sim_state(moved):
            world.set_sim_state(moved)
            assert not np.array_equal(world.render(), before), f"{var_name} moved unseen"
            world.set_sim_state(start)
            shown += 1
    assert shown >= 1  # at least the reference moves from this start
    assert np.array_equal(world.render(), before)
