package crossbar_test

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"
)

// recoveryPlot names the SVG file TestClusterRollingRestart draws its
// video gaps in: go test -run TestClusterRollingRestart -recovery-plot
// docs/recovery.svg.
var recoveryPlot = flag.String("recovery-plot", "", "draw the rolling restart's video gaps in this SVG file")

// plotGaps draws, for each kind of step, the share of subscriptions whose
// video gap was at most x: one cumulative line each.
func plotGaps(path string, gaps map[string][]time.Duration) error {
	const left, top, w, h = 60, 30, 560, 240
	var longest time.Duration
	for _, g := range gaps {
		longest = max(longest, slices.Max(g))
	}
	maxMS := float64(longest.Milliseconds()/100+1) * 100
	x := func(ms float64) float64 { return left + ms/maxMS*w }
	y := func(share float64) float64 { return top + h - share*h }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+w+140, top+h+50)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<path d="M%d %d V%d H%d" fill="none" stroke="black"/>`+"\n", left, top, top+h, left+w)
	for i := 0; i <= 4; i++ {
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%d%%</text>`+"\n", left-6, y(float64(i)/4)+4, i*25)
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%.0f</text>`+"\n", x(maxMS*float64(i)/4), top+h+16, maxMS*float64(i)/4)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">longest video gap of a subscription (ms)</text>`+"\n", left+w/2, top+h+36)
	colors := []string{"#2060c0", "#e08020", "#20a040"}
	for i, name := range slices.Sorted(maps.Keys(gaps)) {
		g := slices.Sorted(slices.Values(gaps[name]))
		var d bytes.Buffer
		fmt.Fprintf(&d, "M%.1f %.1f", x(0), y(0))
		for j, v := range g {
			ms := float64(v) / float64(time.Millisecond)
			fmt.Fprintf(&d, " H%.1f V%.1f", x(ms), y(float64(j+1)/float64(len(g))))
		}
		color := colors[i%len(colors)]
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", d.String(), color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s (%d)</text>`+"\n", left+w+10, top+20+18*i, color, name, len(g))
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}
