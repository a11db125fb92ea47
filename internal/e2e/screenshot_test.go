package e2e

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"ssehub/internal/e2e/chromium"
	"ssehub/internal/testkit"
)

// TestPageScreenshots photographs the page at desktop and phone widths into
// the artifacts directory; with UPDATE_SCREENSHOT=1 the desktop one also
// replaces docs/screenshot.png.
func TestPageScreenshots(t *testing.T) {
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=tick&topic=news")
	tab.Wait(`p.state === "open"`)
	testkit.Publish(t, srv.URL, "news", "update", `{"headline":"ssehub is live","n":1}`)
	testkit.Publish(t, srv.URL, "news", "message", `"plain text works too"`)
	tab.Wait(`p.events.filter((e) => e.event === "tick").length >= 5 && p.events.length >= 7`)

	views := []struct {
		name          string
		width, height int64
		opts          []chromedp.EmulateViewportOption
	}{
		{"desktop", 1280, 1000, nil},
		{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateTouch}},
	}
	for _, v := range views {
		tab.Do("emulate "+v.name, chromedp.EmulateViewport(v.width, v.height, v.opts...))
		size := chromium.Eval[struct {
			Width    int64 `json:"width"`
			Height   int64 `json:"height"`
			Overflow bool  `json:"overflow"`
		}](tab.Tab, `({ width: Math.round(innerWidth * devicePixelRatio), height: Math.round(innerHeight * devicePixelRatio),
			overflow: document.documentElement.scrollWidth > innerWidth })`)
		require.Equal(t, v.width, size.Width, v.name)
		require.Equal(t, v.height, size.Height, v.name)
		require.False(t, size.Overflow, "%s: nothing is wider than the screen", v.name)

		shot := tab.Screenshot(v.name)
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err, "%s: a real PNG", v.name)
		require.Equal(t, image.Rect(0, 0, int(size.Width), int(size.Height)), img.Bounds(), v.name)
		require.Greater(t, distinctColors(img), 8, "%s: the page was drawn, not a blank frame", v.name)
		tab.SaveArtifact("page-"+v.name+".png", shot)

		if v.name == "desktop" && os.Getenv("UPDATE_SCREENSHOT") == "1" {
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "screenshot.png"), shot, 0o644))
			t.Log("updated docs/screenshot.png")
		}
	}
}

// distinctColors counts colours on a sparse grid, up to a small cap.
func distinctColors(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) > 64 {
				return len(seen)
			}
		}
	}
	return len(seen)
}
