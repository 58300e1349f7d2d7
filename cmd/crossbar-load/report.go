//go:build linux

package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// printTable writes the results as a table, with the reference SFU's CPU
// per packet and memory where the issue gives them, and when any ran on a
// cluster a second table of the cluster figures.
func printTable(w io.Writer, results []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintln(tw, "scenario\tin pkt/s\tfwd pkt/s\tserver CPU\tus/pkt\trange\tref us/pkt\tRSS MiB\tref MiB\tidle MiB\tKiB/sub\tloss %\tresent\tskipped\tjoin p50 ms\tp95 ms\tmax ms\tclients CPU\tparticipants\tCPU %/part\tKiB/part\twake/s/part\t")
	for _, r := range results {
		if r.Error != "" {
			_, _ = fmt.Fprintf(tw, "%s\tfailed: %s\n", r.label(), r.Error)
			continue
		}
		refUS, refMiB := "-", "-"
		if ref, ok := references[r.Scenario]; ok && r.Nodes == 0 {
			refUS = fmt.Sprintf("%.1f", ref.CPUPerPacket)
			refMiB = fmt.Sprintf("%.0f-%.0f", ref.MinMiB, ref.MaxMiB)
		}
		_, _ = fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f-%.2f\t%s\t%.1f\t%s\t%.1f\t%.0f\t%.3f\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.2f\t%d\t%.4f\t%.0f\t%.1f\t\n",
			r.label(), r.PublishedPerSec, r.ForwardedPerSec, r.ServerCPU, r.CPUPerPacketUS, r.CPUPerPacketUSMin, r.CPUPerPacketUSMax, refUS, r.RSSMiB, refMiB,
			r.IdleMiB, r.PerSubscriberKiB, r.LossPercent, r.ServerResent, r.ServerSkipped, r.JoinP50MS, r.JoinP95MS, r.JoinMaxMS, r.LoadCPU,
			r.Participants, r.PerParticipantPct, r.PerParticipantKiB, r.WakeupsPerParticipant)
	}
	if err := tw.Flush(); err != nil { // tabwriter buffers: the writes fail here if at all
		return err
	}
	if !slices.ContainsFunc(results, func(r result) bool { return r.Nodes > 1 }) {
		return nil
	}
	_, _ = fmt.Fprintln(w)
	return printCluster(w, results)
}

// label names a result's scenario and, in a cluster, its number of nodes:
// "1x30@3".
func (r result) label() string {
	if r.Nodes > 1 {
		return fmt.Sprintf("%s@%d", r.Scenario, r.Nodes)
	}
	return r.Scenario
}

// printCluster writes the cluster figures of the results, those of one
// server for comparison, and each node's.
func printCluster(w io.Writer, results []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintln(tw, "scenario\tus/pkt\t1 node\trelayed pkt/s\tlink in us\tlink out us\tcross join p50 ms\tp95 ms\tredis CPU\tredis cmd/s\tcmd/join\tcmd/signal\tsignal ev/s\tsignal loss %\t")
	for _, r := range results {
		if r.Error != "" {
			continue
		}
		one := "-"
		if b, ok := oneNode(results, r.Scenario); ok && r.Nodes > 1 {
			one = fmt.Sprintf("%.2f", b.CPUPerPacketUS)
		}
		_, _ = fmt.Fprintf(tw, "%s\t%.2f\t%s\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t%.3f\t%.1f\t%.1f\t%.2f\t%.0f\t%.2f\t\n",
			r.label(), r.CPUPerPacketUS, one, r.RelayedPerSec, r.LinkInCostUS, r.LinkOutCostUS, r.CrossJoinP50MS, r.CrossJoinP95MS,
			r.RedisCPU, r.RedisPerSec, r.RedisPerJoin, r.RedisPerSignal, r.SignalEventsPerSec, r.SignalLossPercent)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, _ = fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintln(tw, "scenario\tnode\tsubscribers\tCPU\tfwd pkt/s\trelayed pkt/s\tus/pkt\tRSS MiB\t")
	for _, r := range results {
		for _, n := range r.NodeStats {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.0f\t%.0f\t%.2f\t%.1f\t\n",
				r.label(), n.ID, n.Subscribers, n.CPU, n.ForwardedPerSec, n.RelayedPerSec, n.CPUPerPacketUS, n.RSSMiB)
		}
	}
	return tw.Flush()
}

// oneNode returns the result of scenario name on one server.
func oneNode(results []result, name string) (result, bool) {
	for _, r := range results {
		if r.Scenario == name && r.Nodes == 0 && r.Error == "" {
			return r, true
		}
	}
	return result{}, false
}

// linkCosts sets what a relayed packet costs the nodes of each cluster
// result of a PxS scenario, from a one-node result of P publishers and as
// many subscribers as the node has: a node's CPU less what that one-node
// run spends a forwarded packet times the packets the node forwarded is
// the links' cost. LinkInCostUS is the receiving nodes' (with a result for
// each) over the packets they received over links, LinkOutCostUS the
// publishers' node's over the packets it sent over links. The one-node
// cost includes the publishers' packets coming in: the costs are what a
// link adds over a publisher on the node itself.
func linkCosts(results []result) {
	for i := range results {
		r := &results[i]
		if r.Nodes < 2 || r.Error != "" || r.Scenario != fmt.Sprintf("%dx%d", r.Publishers, r.Subscribers) {
			continue
		}
		var extraIn, relayedIn float64
		for j, n := range r.NodeStats {
			base, ok := oneNode(results, fmt.Sprintf("%dx%d", r.Publishers, n.Subscribers))
			if !ok {
				continue
			}
			extra := n.CPU*1e6 - base.CPUPerPacketUS*n.ForwardedPerSec // µs a second
			if j > 0 {
				extraIn += extra
				relayedIn += n.RelayedPerSec
			} else if r.RelayedPerSec > 0 {
				r.LinkOutCostUS = extra / r.RelayedPerSec
			}
		}
		if relayedIn > 0 {
			r.LinkInCostUS = extraIn / relayedIn
		}
	}
}

// median returns the run with the median CPU per packet, with the range
// over the runs that did not fail (the first failure if all failed).
func median(runs []result) result {
	var ok []result
	for _, r := range runs {
		if r.Error == "" {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return runs[0]
	}
	slices.SortFunc(ok, func(a, b result) int { return cmp.Compare(a.CPUPerPacketUS, b.CPUPerPacketUS) })
	m := ok[(len(ok)-1)/2]
	m.Runs, m.CPUPerPacketUSMin, m.CPUPerPacketUSMax = len(ok), ok[0].CPUPerPacketUS, ok[len(ok)-1].CPUPerPacketUS
	return m
}

// series is one line of the plot: (subscribers, value) points.
type series struct {
	name   string
	color  string
	dashed bool
	cpu    [][2]float64
	mem    [][2]float64
}

// plot draws CPU per forwarded packet and server RSS against the number of
// subscribers of one publisher (the 1xN scenarios): the reference SFU's
// figures, this run's, and an earlier run's when given.
func plot(results, baseline []result) []byte {
	var all []series
	ref := series{name: "reference SFU", color: "#999999", dashed: true}
	for name, r := range references {
		if n, ok := oneToMany(name); ok {
			ref.cpu = append(ref.cpu, [2]float64{n, r.CPUPerPacket})
			ref.mem = append(ref.mem, [2]float64{n, (r.MinMiB + r.MaxMiB) / 2})
		}
	}
	all = append(all, ref)
	if len(baseline) > 0 {
		all = append(all, seriesOf("Crossbar before", "#e08020", true, baseline))
	}
	all = append(all, seriesOf("Crossbar", "#2060c0", false, results))
	for i := range all {
		slices.SortFunc(all[i].cpu, func(a, b [2]float64) int { return int(a[0] - b[0]) })
		slices.SortFunc(all[i].mem, func(a, b [2]float64) int { return int(a[0] - b[0]) })
	}

	var b bytes.Buffer
	const width, height = 760, 330
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	panel(&b, 60, "server CPU per forwarded packet (µs)", all, func(s series) [][2]float64 { return s.cpu })
	panel(&b, 430, "server RSS (MiB)", all, func(s series) [][2]float64 { return s.mem })
	for i, s := range all {
		y := height - 14
		x := 60 + i*200
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", x, y-4, x+24, y-4, s.color, dash(s))
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+30, y, s.name)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// oneToMany returns N for a scenario named "1xN".
func oneToMany(name string) (float64, bool) {
	rest, ok := strings.CutPrefix(name, "1x")
	if !ok {
		return 0, false
	}
	var n float64
	_, err := fmt.Sscanf(rest, "%g", &n)
	return n, err == nil
}

func seriesOf(name, color string, dashed bool, results []result) series {
	s := series{name: name, color: color, dashed: dashed}
	for _, r := range results {
		if n, ok := oneToMany(r.Scenario); ok && r.Error == "" && r.Nodes == 0 {
			s.cpu = append(s.cpu, [2]float64{n, r.CPUPerPacketUS})
			s.mem = append(s.mem, [2]float64{n, r.RSSMiB})
		}
	}
	return s
}

func dash(s series) string {
	if s.dashed {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

// panel draws one chart, 280x220 at (left, 40), with axes from zero to the
// largest value.
func panel(b *bytes.Buffer, left int, title string, all []series, points func(series) [][2]float64) {
	const top, w, h = 40, 280, 220
	maxX, maxY := 0.0, 0.0
	for _, s := range all {
		for _, p := range points(s) {
			maxX, maxY = max(maxX, p[0]), max(maxY, p[1])
		}
	}
	if maxX == 0 || maxY == 0 {
		return
	}
	maxY = niceCeil(maxY)
	x := func(v float64) float64 { return float64(left) + v/maxX*w }
	y := func(v float64) float64 { return top + h - v/maxY*h }
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", left, top-14, title)
	fmt.Fprintf(b, `<path d="M%d %d V%d H%d" fill="none" stroke="black"/>`+"\n", left, top, top+h, left+w)
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(b, `<text x="%d" y="%.0f" text-anchor="end">%g</text>`+"\n", left-6, y(v)+4, v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#eeeeee"/>`+"\n", left+1, y(v), left+w, y(v))
	}
	for _, n := range []float64{10, 50, 100} {
		if n <= maxX {
			fmt.Fprintf(b, `<text x="%.0f" y="%d" text-anchor="middle">%g</text>`+"\n", x(n), top+h+16, n)
		}
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">subscribers of one publisher</text>`+"\n", left+w/2, top+h+32)
	for _, s := range all {
		var d strings.Builder
		for i, p := range points(s) {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(p[0]), y(p[1]))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x(p[0]), y(p[1]), s.color)
		}
		if d.Len() > 0 {
			fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.TrimSpace(d.String()), s.color, dash(s))
		}
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// plotRooms draws the server's CPU per participant (percent of a core) in
// the scenarios of many rooms, as bars: this run's, and an earlier run's
// beside them when given.
func plotRooms(results, baseline []result) []byte {
	var names []string
	now, before := map[string]float64{}, map[string]float64{}
	for _, r := range results {
		if r.Rooms > 1 && r.Error == "" {
			names = append(names, r.Scenario)
			now[r.Scenario] = r.PerParticipantPct
		}
	}
	for _, r := range baseline {
		if r.Rooms > 1 && r.Error == "" {
			before[r.Scenario] = r.PerParticipantPct
		}
	}
	top := 0.0
	for _, n := range names {
		top = max(top, now[n], before[n])
	}
	var b bytes.Buffer
	const left, plotTop, h, group = 70, 40, 220, 120
	width := left + max(len(names), 1)*group + 20
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, plotTop+h+60, width, plotTop+h+60)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, plotTop+h+60)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">server CPU per participant (%% of a core)</text>`+"\n", left, plotTop-14)
	if top == 0 {
		b.WriteString("</svg>\n")
		return b.Bytes()
	}
	top = niceCeil(top)
	y := func(v float64) float64 { return plotTop + h - v/top*h }
	fmt.Fprintf(&b, `<path d="M%d %d V%d H%d" fill="none" stroke="black"/>`+"\n", left, plotTop, plotTop+h, width-20)
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%g</text>`+"\n", left-6, y(v)+4, v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#eeeeee"/>`+"\n", left+1, y(v), width-20, y(v))
	}
	for i, n := range names {
		x := left + i*group + 20
		bars := []struct {
			v     float64
			color string
		}{{before[n], "#e08020"}, {now[n], "#2060c0"}}
		for j, bar := range bars {
			if bar.v > 0 {
				fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="36" height="%.1f" fill="%s"/>`+"\n", x+j*40, y(bar.v), plotTop+h-y(bar.v), bar.color)
				fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="middle" font-size="10">%.3f</text>`+"\n", x+j*40+18, y(bar.v)-3, bar.v)
			}
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+38, plotTop+h+16, n)
	}
	for i, l := range []struct{ name, color string }{{"before", "#e08020"}, {"now", "#2060c0"}} {
		x := left + i*120
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="10" fill="%s"/>`+"\n", x, plotTop+h+36, l.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+20, plotTop+h+46, l.name)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
