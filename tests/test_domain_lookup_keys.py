"""`exact_keys` (what the database looks up by index) agrees with `resolve` (the specification): whenever
the indexed lookup finds a community, it is the one `resolve` picks from the whole list."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.communities import Named, channel_name_for, exact_keys, resolve, slugify

# Letters whose lower case is their case fold (ß, ligatures and the like differ, and are left out: for
# them the exact name and the slug could name two different communities).
WORDS = st.text(alphabet="abcdeéèçilmnorstuvAEÉMU &-'0123", min_size=1, max_size=24)


def directory(names: list[str]) -> list[Named]:
    """Communities as the database holds them: one per slug, in the directory's order (by name)."""
    by_slug: dict[str, str] = {}
    for name in names:
        slug = slugify(name)
        if slug and slug not in by_slug:
            by_slug[slug] = name.strip()
    ordered = sorted(by_slug.items(), key=lambda item: item[1])
    return [Named(i + 1, name, slug, (f"C{i + 1}",)) for i, (slug, name) in enumerate(ordered)]


def indexed_lookup(query: str, communities: list[Named]) -> Named | None:
    """What the repository's queries return for `exact_keys(query)`."""
    keys = exact_keys(query)
    if keys.channel_id is not None:
        bound = [c for c in communities if keys.channel_id in c.channel_ids]
        if bound:
            return bound[0]
    matches = [c for c in communities if c.slug in keys.slugs]
    return matches[0] if matches else None


def queries(communities: list[Named]) -> st.SearchStrategy[str]:
    typed = [c.name for c in communities]
    typed += [c.name.upper() for c in communities]
    typed += [c.slug for c in communities]
    typed += ["#" + channel_name_for(c.name) for c in communities]
    typed += [f"<#{c.channel_ids[0]}|whatever>" for c in communities]
    typed += [c.slug[:4] for c in communities]
    return st.one_of(
        st.sampled_from(typed), WORDS, st.just("<#CUNBOUND|" + (typed[0] if typed else "x") + ">")
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=8), st.data())
def test_the_indexed_lookup_finds_what_resolve_finds(names: list[str], data: st.DataObject) -> None:
    communities = directory(names)
    query = data.draw(queries(communities) if communities else WORDS)
    found = indexed_lookup(query, communities)
    if found is not None:
        assert resolve(query, communities).found == found


def test_examples() -> None:
    assert exact_keys("Urbanisme & Mobilité").slugs == ("urbanisme-mobilite",)
    assert exact_keys("#cdp-urbanism").slugs == ("cdp-urbanism", "urbanism")
    assert exact_keys("<#C123|cdp-water>") == exact_keys("<#C123|cdp-water>")
    keys = exact_keys("<#C123|cdp-water>")
    assert (keys.channel_id, keys.slugs) == ("C123", ("cdp-water", "water"))
    assert exact_keys("  ").slugs == ()
