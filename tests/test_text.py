from shadow_audit.text import plural, visible


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
