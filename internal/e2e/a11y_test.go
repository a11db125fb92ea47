package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"ssehub/internal/e2e/chromium"
	"ssehub/internal/testkit"
)

// minContrast is WCAG AA's ratio for normal text.
const minContrast = 4.5

// TestPageControlsHaveAccessibleNames: every control of the page a screen
// reader reaches has a name, and the landmarks exist.
func TestPageControlsHaveAccessibleNames(t *testing.T) {
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-a11y")
	tab.Wait(`p.state === "open"`)
	requireAccessibleNames(t, tab)
}

// TestPageTokenFieldIsAccessible: with Auth on, the refusal notice and the
// token field the page shows after a 401 are named and readable too.
func TestPageTokenFieldIsAccessible(t *testing.T) {
	srv := testkit.Start(t, testkit.Config(t, "TickInterval: 0s", authYAML))
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-a11y")
	tab.Wait(`p.tokenNeeded && p.refusedStatus === 401`)
	requireAccessibleNames(t, tab)
	require.True(t, chromium.Eval[bool](tab.Tab, `document.getElementById("token").labels[0].textContent === "Token (JWT)"`))
	texts := chromium.Eval[[]struct {
		Text  string  `json:"text"`
		Ratio float64 `json:"ratio"`
	}](tab.Tab, contrastJS)
	for _, tx := range texts {
		require.GreaterOrEqual(t, tx.Ratio, minContrast, "%q has contrast %.2f", tx.Text, tx.Ratio)
	}
	tab.SaveArtifact("page-token.png", tab.Screenshot("the token field"))
}

// requireAccessibleNames reads Chromium's accessibility tree: every control a
// screen reader reaches has a name, and the landmarks exist.
func requireAccessibleNames(t *testing.T, tab *Tab) {
	t.Helper()
	ctx, cancel := tab.Bounded(Bound)
	defer cancel()
	tree, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	require.NoError(t, err)

	named := map[string]bool{"button": true, "textbox": true, "combobox": true, "link": true, "list": true,
		"status": true, "region": true}
	roles := map[string]int{}
	for _, n := range tree.Nodes {
		if n.Ignored {
			continue
		}
		role := axString(t, n.Role)
		roles[role]++
		if named[role] {
			require.NotEmpty(t, axString(t, n.Name), "a %s without an accessible name", role)
		}
	}
	for _, role := range []string{"banner", "main", "heading", "button", "status"} {
		require.Positive(t, roles[role], "the page has a %s; roles: %v", role, roles)
	}
	require.GreaterOrEqual(t, roles["textbox"]+roles["combobox"], 4, "roles: %v", roles)
	require.Equal(t, "en", chromium.Eval[string](tab.Tab, `document.documentElement.lang`))
}

func axString(t *testing.T, v *accessibility.Value) string {
	t.Helper()
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	require.NoError(t, json.Unmarshal(v.Value, &s))
	return s
}

// TestPageTextHasContrast measures every piece of text on the page against
// the background it is drawn on, in each connection state the page shows.
func TestPageTextHasContrast(t *testing.T) {
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-contrast&lastEventId=1-0")
	tab.Wait(`p.state === "open" && p.resetReason !== ""`)
	publishN(t, srv.URL, "e2e-contrast", 1)
	tab.Wait(`p.events.length === 2`)

	// Nothing else arrives on this topic, so the page holds still while the
	// state is set by hand to each value app.js uses.
	for _, state := range []string{"open", "connecting", "reconnecting", "closed"} {
		texts := chromium.Eval[[]struct {
			Text  string  `json:"text"`
			Ratio float64 `json:"ratio"`
		}](tab.Tab, fmt.Sprintf(`(() => { document.getElementById("state").dataset.state = %q; return %s; })()`,
			state, contrastJS))
		require.NotEmpty(t, texts)
		for _, tx := range texts {
			require.GreaterOrEqual(t, tx.Ratio, minContrast, "state %s: %q has contrast %.2f", state, tx.Text, tx.Ratio)
		}
	}
}

// contrastJS lists each rendered text node with the contrast ratio of its
// colour against the first opaque background behind it (WCAG 2 formula).
const contrastJS = `(() => {
  const parse = (c) => {
    const v = (c.match(/[\d.]+/g) || []).map(Number);
    return { r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1 };
  };
  const lum = (c) => {
    const f = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.a === 1) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el.getClientRects().length) continue;
    const a = lum(parse(getComputedStyle(el).color)), b = lum(background(el));
    out.push({ text: n.textContent.trim().slice(0, 40), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) });
  }
  return out;
})()`
