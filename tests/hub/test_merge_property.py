"""Terminals working offline and exchanging events in any order converge, and a
merge always leaves the projections exactly as a full rebuild would."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import HubError
from hub.roles import Principal
from hub.terminal import Terminal
from tests.hub.test_rebuild_property import _run, command

step = st.one_of(
    st.tuples(st.just("work"), st.integers(0, 2), command),
    st.tuples(st.just("pull"), st.integers(0, 2), st.integers(0, 2), st.integers(1, 40)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40))
def test_merge_matches_rebuild_and_terminals_converge(tmp_path_factory, steps):
    root = tmp_path_factory.mktemp("city")
    terminals = [Terminal.init(root / f"t{i}", f"T{i}") for i in range(3)]
    seen = [([], []) for _ in terminals]  # people and cases each terminal knows
    try:
        for s in steps:
            if s[0] == "work":
                t = terminals[s[1]]
                people, cases = seen[s[1]]
                try:
                    _run(t.session(Principal.agent(f"agent{s[1]}")), s[2], people, cases)
                except HubError:
                    pass
            else:
                _, to, frm, count = s
                if to == frm:
                    continue
                src, dst = terminals[frm], terminals[to]
                have = dst.journal.heads().get(src.id, (0, ""))[0]
                dst.accept(list(src.journal.events(src.id, after_seq=have, limit=count)))
                merged = dst.state_hash()
                dst.rebuild()
                assert dst.state_hash() == merged
                people, cases = seen[to]
                people[:] = [r[0] for r in dst.conn.execute("SELECT id FROM citizens ORDER BY rid")]
                cases[:] = [r[0] for r in dst.conn.execute("SELECT id FROM cases ORDER BY opened_hlc")]
        for dst in terminals:
            for src in terminals:
                if src is not dst:
                    dst.accept(list(src.journal.events(src.id)))
        hashes = {t.state_hash() for t in terminals}
        assert len(hashes) == 1
        for t in terminals:
            assert t.verify() is None
    finally:
        for t in terminals:
            t.close()
