"""Injection: HTML and script in every text field, hostile Markdown (script, data and vbscript
URLs in mixed case and entity-encoded, event handlers, frames, forms, mXSS shapes), and template
syntax in content. Every case builds, nothing in any page can run, and the text shows as text.
"""
from __future__ import annotations

import json

import pytest

from .helpers import BASE_SLUG, BASE_SOURCE, SHIPPED, assert_built, assert_harmless, edit

SRC = f"sources/{BASE_SLUG}.yaml"


def payload(field: str) -> str:
    """HTML, script, an event handler, a frame and template syntax, tagged with the field's name."""
    return (f"<script>alert('{field}')</script><img src=x onerror=alert(1)>"
            f"<iframe src=\"javascript:alert(2)\"></iframe> {{{{ 7*7 }}}} {{% raw %}} {field}-end")


def q(text: str) -> str:
    """text as a YAML scalar (a JSON string is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


SHORT = "<b onmouseover=x>{{7*7}}</b>"  # for api_version, at most 40 characters

# Plain-text fields: (id, file, old line, new line with {P}, the text that must show)
FIELDS = [
    ("source-name", SRC, "name: Hostile Base Source", "name: {P}"),
    ("source-context", SRC, "context: Post-connection review (preview).", "context: {P}"),
    ("reason-message", SRC, "  - auth_expired", "  - code: auth_expired\n    message: {P}"),
    ("blocked-reason", SRC, "    reason: Waiting for an admin.", "    reason: {P}"),
    ("data-quality-message", SRC, "    message: Some rows were rejected.", "    message: {P}"),
    ("sync-error", SRC, "    error: Ten rows were rejected.", "    error: {P}"),
    ("account-name", SRC, "  - name: Hostile Base Account", "  - name: {P}"),
    ("site-title", "site.yaml", "title: Source Health Preview", "title: {P}"),
    ("site-footer-note", "site.yaml", "footer_notes:", "footer_notes:\n  - {P}"),
    ("platform-name", "catalog/platforms.yaml", "  name: TikTok Ads", "  name: {P}"),
    ("platform-auth-method", "catalog/platforms.yaml",
     "  auth_method: OAuth 2.0 (TikTok for Business), advertiser-level authorization", "  auth_method: {P}"),
    ("action-label", "catalog/actions.yaml", "  label: Reconnect", "  label: {P}"),
    ("action-description", "catalog/actions.yaml", "  description: Re-run authorization to restore the connection.",
     "  description: {P}"),
    ("reason-health-message", "catalog/reasons.yaml",
     "  health_message: Authorization expired — reconnect to resume syncing.", "  health_message: {P}"),
    ("reason-data-quality-message", "catalog/reasons.yaml",
     "  data_quality_message: Some rows were rejected during the last sync.", "  data_quality_message: {P}"),
    ("profile-name", "catalog/profiles.yaml", "  name: Cyspera", "  name: {P}"),
    ("label-text", "catalog/labels.yaml", "health: Health", "health: {P}"),
]


@pytest.mark.parametrize("rel, old, new", [f[1:] for f in FIELDS], ids=[f[0] for f in FIELDS])
def test_html_and_template_syntax_in_text_fields_show_as_text(ws, rel, old, new):
    field = rel.split("/")[-1].split(".")[0] + "-" + old.split(":")[0].strip(" -")
    text = payload(field)
    base = BASE_SOURCE if rel == SRC else (SHIPPED / rel).read_text(encoding="utf-8")
    if rel == "catalog/reasons.yaml" and "data_quality_message" in old:
        # Show the catalog's data-quality message: list the code without a message of its own.
        ws.write(SRC, edit(BASE_SOURCE, "    code: partial_data\n    message: Some rows were rejected.",
                           "    code: partial_data"))
    ws.write(rel, edit(base, old, new.replace("{P}", q(text))))
    result = ws.build()
    assert_built(result)
    assert_harmless(ws.out, visible=(text,))


def test_short_field_api_version(ws):
    ws.write(SRC, edit(BASE_SOURCE, "    api_version: v1.3", f"    api_version: {q(SHORT)}"))
    assert_built(ws.build())
    assert_harmless(ws.out, visible=(SHORT,))


# Hostile Markdown for notes (and the banner): (id, markdown, text that must still show)
MARKDOWN = [
    ("js-link", "[click-js](javascript:alert(1))", "click-js"),
    ("js-link-mixed-case", "[click-mixed](JaVaScRiPt:alert(1))", "click-mixed"),
    ("js-link-decimal-entity", "[click-entity](&#106;avascript:alert(1))", "click-entity"),
    ("js-link-hex-entity", "[click-hex](&#x6A;&#x61;vascript:alert(1))", "click-hex"),
    ("js-link-tab-entity", "[click-tab](java&#x09;script:alert(1))", "click-tab"),
    ("js-link-leading-space", "<a href=\"  javascript:alert(1)\">click-space</a>", "click-space"),
    ("js-link-control-char", "<a href=\"&#14;javascript:alert(1)\">click-ctrl</a>", "click-ctrl"),
    ("js-link-newline", "<a href=\"jav&#x0A;ascript:alert(1)\">click-newline</a>", "click-newline"),
    ("js-autolink", "<javascript:alert(1)> autolink-after", "autolink-after"),
    ("js-reference-link", "[ref-link][1]\n\n[1]: javascript:alert(1)", "ref-link"),
    ("js-image", "![img-alt](javascript:alert(1)) image-after", "image-after"),
    ("data-link", "[click-data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "click-data"),
    ("data-link-upper", "<a href=\"DATA:text/html,<script>alert(1)</script>\">click-data-upper</a>", "click-data-upper"),
    ("vbscript-link", "[click-vb](vbscript:msgbox(1))", "click-vb"),
    ("vbscript-link-mixed", "<a href=\"VbScRiPt:msgbox(1)\">click-vb-mixed</a>", "click-vb-mixed"),
    ("raw-script", "before-script <script>alert(1)</script> after-script", "after-script"),
    ("nested-script", "<scr<script>ipt>alert(1)</script> nested-after", "nested-after"),
    ("event-img", "before-img <img src=x onerror=alert(1)> after-img", "after-img"),
    ("event-div", "<div onclick=\"alert(1)\">div-click</div>", "div-click"),
    ("event-on-allowed-tag", "<a href=\"https://example.test/\" onclick=\"alert(1)\">mixed-anchor</a>", "mixed-anchor"),
    ("event-details", "<details open ontoggle=alert(1)>details-text</details>", "details-text"),
    ("event-svg", "<svg onload=alert(1)><script>alert(2)</script></svg> svg-after", "svg-after"),
    ("title-breakout", "[title-break](https://example.test \"x\\\" onmouseover=\\\"alert(1)\")", "title-break"),
    ("iframe", "<iframe src=\"https://evil.example/\"></iframe> iframe-after", "iframe-after"),
    ("iframe-srcdoc", "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe> srcdoc-after", "srcdoc-after"),
    ("object-embed", "<object data=\"x.swf\"></object><embed src=\"x.swf\"> object-after", "object-after"),
    ("form", "<form action=\"https://evil.example/\"><input name=q></form> form-after", "form-after"),
    ("meta-refresh", "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\"> meta-after", "meta-after"),
    ("base-href", "<base href=\"https://evil.example/\"> base-after", "base-after"),
    ("style-block", "<style>body{display:none}</style> style-after", "style-after"),
    ("html-comment", "<!--<script>alert(1)</script>--> comment-after", "comment-after"),
    ("mxss-math", "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>"
                  " mxss-after", "mxss-after"),
    ("template-syntax", "{{ 7*7 }} {% raw %} {{ config.items() }} {% include '/etc/passwd' %} template-after",
     "{{ 7*7 }} {% raw %} {{ config.items() }} {% include '/etc/passwd' %} template-after"),
]


@pytest.mark.parametrize("markdown, visible", [m[1:] for m in MARKDOWN], ids=[m[0] for m in MARKDOWN])
def test_hostile_markdown_in_notes_is_sanitized(ws, markdown, visible):
    ws.write(SRC, edit(BASE_SOURCE, "notes: Plain notes.", f"notes: {q(markdown)}"))
    result = ws.build()
    assert_built(result)
    assert_harmless(ws.out, visible=(visible,))


@pytest.mark.parametrize("markdown, visible", [m[1:] for m in MARKDOWN if m[0] in (
    "js-link-hex-entity", "event-svg", "iframe", "raw-script", "template-syntax", "mxss-math")],
    ids=["hex-entity", "svg", "iframe", "script", "template-syntax", "mxss"])
def test_hostile_markdown_in_the_banner_is_sanitized(ws, markdown, visible):
    """The banner is on every page, the 404 page included."""
    site = (SHIPPED / "site.yaml").read_text(encoding="utf-8")
    start = site.index("banner:")
    end = site.index("\nfooter_notes:")
    ws.write("site.yaml", site[:start] + f"banner: {q(markdown)}" + site[end:])
    assert_built(ws.build())
    assert_harmless(ws.out, visible=(visible,))


def test_safe_links_survive_sanitizing(ws):
    """The sanitizer is an allow-list, not a wall: http(s), mailto and relative links stay."""
    notes = "[docs](https://example.test/docs) [mail](mailto:ops@example.test) [page](../index.html)"
    ws.write(SRC, edit(BASE_SOURCE, "notes: Plain notes.", f"notes: {q(notes)}"))
    assert_built(ws.build())
    page = (ws.out / "sources" / f"{BASE_SLUG}.html").read_text(encoding="utf-8")
    for href in ("https://example.test/docs", "mailto:ops@example.test", "../index.html"):
        assert f'href="{href}"' in page
    assert_harmless(ws.out, visible=("docs", "mail", "page"))
