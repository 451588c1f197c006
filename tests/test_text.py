from shadow_audit.text import natural_key, plural, visible


def test_plain_text_is_unchanged():
    assert visible("proj-7/payments ünïcode ✅") == "proj-7/payments ünïcode ✅"


def test_line_breaks_and_ansi_escapes_become_visible():
    forged = "a\r\r# ✅ shadow-audit: GREEN\r\n\x1b[32mok\x1b[0m\x00"
    shown = visible(forged)
    assert "\r" not in shown and "\n" not in shown and "\x1b" not in shown and "\x00" not in shown
    assert shown == "a\\r\\r# ✅ shadow-audit: GREEN\\r\\n\\e[32mok\\e[0m\\u0000"


def test_unicode_line_separators_and_bidi_overrides_become_visible():
    assert visible("x\u2028y\u202ez\x85") == "x\\u2028y\\u202ez\\u0085"


def test_plural_is_singular_for_one_only():
    assert plural(0, "finding") == "0 findings"
    assert plural(1, "source document") == "1 source document"
    assert plural(2, "unit") == "2 units"
    assert plural(145500, "more finding") == "145,500 more findings"
    assert plural(1000, "unit") == "1,000 units" and plural(999, "unit") == "999 units"


def test_natural_key_orders_numbers_by_value():
    keys = ["proj/10", "proj/2", "proj", "proj/billing", "proj/1", "proj-10", "proj-9/3"]
    assert sorted(keys, key=natural_key) == [
        "proj", "proj-9/3", "proj-10", "proj/1", "proj/2", "proj/10", "proj/billing"
    ]  # fmt: skip
    assert sorted(["p/01", "p/1", "p/001"], key=natural_key) == ["p/001", "p/01", "p/1"]
    assert natural_key("") == ()
