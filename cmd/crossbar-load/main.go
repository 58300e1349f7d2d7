//go:build linux

// Command crossbar-load measures Crossbar's forwarding under load on one
// machine. It starts the host app as a separate process (itself, re-run
// with -serve) so that the server's CPU time and memory are measured alone,
// connects publishers and subscribers to it with the Go client over
// loopback, publishes synthetic video (VP8, 30 fps, ~2 Mbit/s in ~1200-byte
// packets) and Opus audio, and after a warm-up measures a steady window:
// forwarded packets a second, server CPU per forwarded packet, server RSS,
// loss and join latency. It prints a table and optionally writes JSON and
// an SVG plot.
//
// With -nodes N above 1 the host app is a cluster: the load process starts
// redis-server on a loopback port and N host app processes on it (nodes n1
// to nN), puts the publishers on n1 and spreads the subscribers round
// robin over every node. The server figures are then sums over the nodes;
// a second table gives each node's, the packets relayed over node links,
// what a relayed packet costs, cross-node join latency and Redis's
// commands per join and per signal.
//
//	go run ./cmd/crossbar-load                    # every scenario
//	go run ./cmd/crossbar-load -run 1x10,4x50 -pin -json out.json -plot docs/perf.svg
//	go run ./cmd/crossbar-load -run 1x10,1x30 -nodes 1,3   # one server, then 3 nodes
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// config holds the flags of a load run.
type config struct {
	warmup, window time.Duration
	bitrate, fps   int
	pin            bool
	count          int    // runs of each scenario
	cpuProfile     string // file name prefix for the server's CPU profiles
	memProfile     string // file name prefix for the server's heap profiles
	blockProfile   string // file name prefix for the server's block profiles
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("crossbar-load: ")
	var (
		serveFlag = flag.Bool("serve", false, "run as the host app (started by the load process itself)")
		cpus      = flag.String("cpus", "", "with -serve: pin the host app to these CPUs")
		blockRate = flag.Int("blockrate", 0, "with -serve: runtime.SetBlockProfileRate's rate (ns blocked per sample)")
		asNode    node
		nodesFlag = flag.String("nodes", "1", "comma-separated numbers of host app processes to run each scenario on: 1 is one server, more a cluster on a redis-server of its own")
		runFlag   = flag.String("run", "all", "comma-separated scenarios to run: "+scenarioNames()+", or PxS (P publishers, S subscribers of all)")
		jsonOut   = flag.String("json", "", "write the results as JSON to this file")
		plotOut   = flag.String("plot", "", "write an SVG plot of CPU per packet and memory against subscribers to this file")
		roomsPlot = flag.String("roomsplot", "", "write an SVG plot of the server's CPU per participant in the scenarios of many rooms to this file")
		baseline  = flag.String("baseline", "", "with -plot or -roomsplot: also draw the results in this JSON file (an earlier run)")
		from      = flag.String("results", "", "run nothing: print (and plot) the results in this JSON file")
		cfg       config
	)
	flag.DurationVar(&cfg.warmup, "warmup", 5*time.Second, "time between the last join and the measuring window")
	flag.DurationVar(&cfg.window, "window", 20*time.Second, "length of the measuring window")
	flag.IntVar(&cfg.bitrate, "bitrate", 2_000_000, "video bits per second of each publisher")
	flag.IntVar(&cfg.fps, "fps", 30, "video frames per second of each publisher")
	flag.IntVar(&cfg.count, "count", 1, "run each scenario this many times (in turns) and report the run with the median us/pkt")
	flag.BoolVar(&cfg.pin, "pin", false, "pin the host app to CPU 0 and the clients to the other CPUs")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "save the host app's CPU profile of each window to <prefix>-<scenario>.pprof")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "save the host app's heap profile at the end of each window to <prefix>-<scenario>.pprof")
	flag.StringVar(&cfg.blockProfile, "blockprofile", "", "save the host app's block profile of each window to <prefix>-<scenario>.pprof")
	flag.StringVar(&asNode.ID, "node", "", "with -serve: the cluster node id")
	flag.StringVar(&asNode.Redis, "redis", "", "with -serve: join the cluster on this Redis address")
	flag.StringVar(&asNode.Session, "session", "", "with -serve: serve this session, created by another node")
	flag.Parse()

	if *serveFlag {
		if *cpus != "" {
			list, err := parseInts(*cpus, 0)
			if err == nil {
				err = pinSelf(list)
			}
			if err != nil {
				log.Fatal("-cpus: ", err)
			}
		}
		runtime.SetBlockProfileRate(*blockRate)
		if err := serve(asNode); err != nil {
			log.Fatal(err)
		}
		return
	}

	selected, err := selectScenarios(*runFlag)
	if err != nil {
		log.Fatal(err)
	}
	nodeCounts, err := parseInts(*nodesFlag, 1)
	if err != nil {
		log.Fatal("-nodes: ", err)
	}
	var base []result
	if *baseline != "" {
		if base, err = readResults(*baseline); err != nil {
			log.Fatal(err)
		}
	}
	if cfg.pin {
		if runtime.NumCPU() < 2 {
			log.Fatal("-pin needs at least 2 CPUs")
		}
		var others []int
		for c := 1; c < runtime.NumCPU(); c++ {
			others = append(others, c)
		}
		if err := pinSelf(others); err != nil {
			log.Fatal(err)
		}
	}

	if *from != "" {
		results, err := readResults(*from)
		if err != nil {
			log.Fatal(err)
		}
		if err := printTable(os.Stdout, results); err != nil {
			log.Fatal(err)
		}
		writePlots(*plotOut, *roomsPlot, results, base)
		return
	}
	runs := make([][]result, len(selected)*len(nodeCounts))
	for round := 1; round <= max(cfg.count, 1); round++ {
		for j, nodes := range nodeCounts {
			for i, sc := range selected {
				log.Printf("scenario %s on %d node(s) (run %d of %d): %s", sc.Name, nodes, round, max(cfg.count, 1), sc.describe())
				res := runScenario(cfg, sc, nodes)
				if res.Error != "" {
					log.Printf("scenario %s failed: %s", sc.Name, res.Error)
				} else {
					log.Printf("scenario %s: %.2f us/pkt", sc.Name, res.CPUPerPacketUS)
				}
				runs[j*len(selected)+i] = append(runs[j*len(selected)+i], res)
			}
		}
	}
	var results []result
	for _, rs := range runs {
		results = append(results, median(rs))
	}
	linkCosts(results)
	if err := printTable(os.Stdout, results); err != nil {
		log.Fatal(err)
	}

	if *jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	writePlots(*plotOut, *roomsPlot, results, base)
}

// writePlots writes the plots asked for (an empty file name: not that one).
func writePlots(plotOut, roomsPlot string, results, base []result) {
	if plotOut != "" {
		if err := os.WriteFile(plotOut, plot(results, base), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if roomsPlot != "" {
		if err := os.WriteFile(roomsPlot, plotRooms(results, base), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func readResults(path string) ([]result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rs []result
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// parseInts parses a comma-separated list of integers, each at least
// least, such as "0" or "1,3".
func parseInts(list string, least int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			return nil, fmt.Errorf("bad list %q: want integers of %d or more", list, least)
		}
		out = append(out, n)
	}
	return out, nil
}

func selectScenarios(list string) ([]scenario, error) {
	if list == "all" {
		return scenarios, nil
	}
	var out []scenario
	for _, name := range strings.Split(list, ",") {
		sc, ok := scenarioNamed(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("no scenario %q (have %s)", name, scenarioNames())
		}
		out = append(out, sc)
	}
	return out, nil
}
