package check

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/report"
	"ssehub/internal/chaos/violation"
)

const s = time.Second

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// base is a valid history: one client on topic a that receives a1..a3 and
// the marker; every test case changes one thing.
func base() *history.History {
	return &history.History{
		Seed: 7, Mode: history.ModeMemory,
		Bounds: history.Bounds{Silence: 4 * s, EndAfterKill: 2 * s, EndAfterTerm: 4 * s, StalledCut: 5 * s, WriteTimeout: 2 * s, ReplaySize: 1000, ReplayAge: 300 * s,
			FDSlack: 3, GoroutineSlack: 5, QueueSlack: 1024, OrphanQueue: 64 << 10},
		Publishes: []history.Publish{
			pub("t1", "a", "100-1", ms(200)),
			pub("t2", "a", "100-2", ms(300)),
			pub("t3", "a", "100-3", ms(400)),
			pub("m", "a", "100-4", 5*s),
		},
		Markers: map[string]string{"a": "m"},
		Chains: []*history.Chain{{Client: 0, Topics: []string{"a"}, Behaviour: history.Fast, Conns: []*history.Conn{
			conn(0, ms(100), ms(5100), history.EndRunOver, ev(ms(210), "100-1", "t1"), ev(ms(310), "100-2", "t2"),
				ev(ms(410), "100-3", "t3"), ev(ms(5010), "100-4", "m")),
		}}},
		Resources: []history.Resources{{Before: history.Sample{FDs: 10, Goroutines: 20}, After: history.Sample{At: 6 * s, FDs: 11, Goroutines: 22}}},
	}
}

func pub(token, topic, id string, at time.Duration) history.Publish {
	return history.Publish{Token: token, Topic: topic, Start: at, Done: at + ms(5), Status: 200, ID: id}
}

func ev(at time.Duration, id, token string) history.Frame {
	return history.Frame{At: at, ID: id, Event: "m", Token: token}
}

func reset(at time.Duration) history.Frame {
	return history.Frame{At: at, Event: "reset", Reason: "history-gone"}
}

func conn(inst int, ready, end time.Duration, how history.End, frames ...history.Frame) *history.Conn {
	return &history.Conn{Instance: inst, Ready: ready, Start: ready - ms(5), EndAt: end, End: how, Frames: frames, Retries: 1}
}

// split ends the chain's only connection after its first n frames and
// resumes the rest on a second connection with the last id received.
func split(h *history.History, n int, how history.End, first ...history.Frame) {
	c := h.Chains[0]
	all := c.Conns[0].Frames
	a := conn(0, c.Conns[0].Ready, all[n-1].At+ms(1), how, all[:n]...)
	b := conn(0, all[n-1].At+ms(20), c.Conns[0].EndAt, history.EndRunOver, append(first, all[n:]...)...)
	b.LastEventID = all[n-1].ID
	c.Conns = []*history.Conn{a, b}
}

func kinds(vs []violation.Violation) []violation.Kind {
	var out []violation.Kind
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return out
}

func TestCheckPasses(t *testing.T) {
	t.Parallel()
	cases := map[string]func(h *history.History){
		"one connection": func(h *history.History) {},
		"a reset after sigterm of a client the stall rule may have cut before": func(h *history.History) {
			split(h, 3, history.EndReset)
			c := h.Chains[0].Conns[0]
			c.Pauses = []history.Interval{{From: ms(100), To: ms(2150)}}
			c.EndAt = ms(2500)
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(2200), Exited: ms(2900)}}
		},
		"a wait TCP's zero-window probes explain, right after a long pause": func(h *history.History) {
			c := h.Chains[0].Conns[0]
			c.Pauses = []history.Interval{{From: ms(500), To: ms(6500)}}
			c.Waits = []history.Wait{{At: ms(6510), For: 5 * s}}
		},
		"resume with no gap": func(h *history.History) {
			split(h, 2, history.EndClient)
		},
		"reset covers what is gone": func(h *history.History) {
			split(h, 1, history.EndReset, reset(ms(330)))
			c := h.Chains[0].Conns[1]
			c.Frames = append(c.Frames[:1], c.Frames[2:]...) // t2 gone
			c.Incarnation = 1
			h.Faults = []history.Fault{{Kind: history.FaultKill, At: ms(250), Exited: ms(260), Restarted: ms(320)}}
		},
		"a retry answered with the same id": func(h *history.History) {
			d := pub("t2", "a", "100-2", ms(320))
			d.Dup = true
			h.Publishes = append(h.Publishes, d)
		},
		"a key publishing again after a memory restart": func(h *history.History) {
			h.Publishes = append(h.Publishes, pub("t2", "a", "200-1", ms(4000)))
			h.Faults = []history.Fault{{Kind: history.FaultKill, At: ms(3000), Exited: ms(3010)}}
			c := h.Chains[0].Conns[0]
			c.EndAt = ms(3000)
			c.End = history.EndReset
			c.Frames = c.Frames[:3]
			next := conn(0, ms(3500), ms(5100), history.EndRunOver, reset(ms(3501)), ev(ms(4010), "200-1", "t2"), ev(ms(5010), "100-4", "m"))
			h.Publishes[3].ID = "200-2"
			next.Frames[2].ID = "200-2"
			next.Incarnation = 1
			h.Chains[0].Conns = append(h.Chains[0].Conns, next)
		},
		"a duplicate answered before the publish it found": func(h *history.History) {
			d := pub("t2", "a", "100-2", ms(299))
			d.Dup = true
			h.Publishes = append([]history.Publish{d}, h.Publishes...)
		},
		"an unacknowledged publish appears once": func(h *history.History) {
			h.Publishes = append(h.Publishes, history.Publish{Token: "u", Topic: "a", Start: ms(350), Done: ms(3350), Err: "timeout"})
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:3], append([]history.Frame{ev(ms(420), "100-5", "u")}, c.Frames[3:]...)...)
			h.Publishes[3].ID = "100-6"
			c.Frames[4].ID = "100-6"
		},
		"events published before the subscription are not owed": func(h *history.History) {
			h.Chains[0].Conns[0].Ready = ms(250)
			h.Chains[0].Conns[0].Frames = h.Chains[0].Conns[0].Frames[1:]
		},
		"killed instance ends its stream at once": func(h *history.History) {
			split(h, 3, history.EndReset)
			h.Faults = []history.Fault{{Kind: history.FaultKill, At: ms(410), Exited: ms(415)}}
		},
		"sigterm ends a reading stream cleanly": func(h *history.History) {
			split(h, 3, history.EndEOF)
			h.Chains[0].Conns[0].Retries = 2
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(410), Exited: ms(900)}}
		},
		"sigterm may reset a stream that stopped reading": func(h *history.History) {
			split(h, 3, history.EndReset)
			h.Chains[0].Conns[0].Pauses = []history.Interval{{From: ms(400), To: ms(2000)}}
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(410), Exited: ms(900)}}
		},
		"a slow reader drains before it sees the end": func(h *history.History) {
			split(h, 3, history.EndTruncated)
			h.Chains[0].Conns[0].EndAt = 6 * s
			h.Chains[0].Conns[0].Waits = []history.Wait{{At: ms(5000), For: ms(1000)}}
			h.Faults = []history.Fault{{Kind: history.FaultKill, At: ms(410), Exited: ms(415)}}
		},
		"a stalled client sees the end when it reads again": func(h *history.History) {
			split(h, 3, history.EndEOF)
			h.Chains[0].Conns[0].Pauses = []history.Interval{{From: ms(300), To: 3 * s}}
			h.Chains[0].Conns[0].EndAt = ms(3100)
			h.Faults = []history.Fault{{Kind: history.FaultKill, At: ms(410), Exited: ms(415)}}
		},
		"a client cut after it stopped reading": func(h *history.History) {
			split(h, 2, history.EndEOF)
			h.Chains[0].Conns[0].Pauses = []history.Interval{{From: ms(100), To: ms(300)}}
		},
		"a client the server never served owes no marker": func(h *history.History) {
			h.QuiesceAt = 4 * s
			h.Chains = append(h.Chains, &history.Chain{Client: 1, Topics: []string{"a"}, Behaviour: history.HalfBody, Conns: []*history.Conn{
				{Start: ms(4100), Status: 400, End: history.EndStatus, EndAt: ms(4101), Incarnation: -1}}})
		},
		"a reset for an id published before Redis lost its data": func(h *history.History) {
			h.Mode = history.ModeRedis
			h.Faults = []history.Fault{{Kind: history.FaultFlushAll, At: ms(1500), Restarted: ms(1500)}}
			h.Chains[0].Conns = []*history.Conn{
				conn(0, ms(100), ms(3001), history.EndEOF, ev(3*s, "100-1", "t1")), // a slow reader gets t1 late
				conn(0, ms(3050), ms(5100), history.EndRunOver, reset(ms(3060)), ev(ms(3070), "100-3", "t3"), ev(ms(5010), "100-4", "m")),
			}
			h.Chains[0].Conns[1].LastEventID = "100-1"
		},
		"a key acknowledged twice around a FLUSHALL that began before its first try": func(h *history.History) {
			h.Mode = history.ModeRedis
			h.Faults = []history.Fault{{Kind: history.FaultFlushAll, At: ms(290), Restarted: ms(310)}}
			h.Publishes[1].Key = "k"
			r := pub("t2", "a", "100-5", ms(405))
			r.Key = "k"
			h.Publishes = append(h.Publishes, r)
			h.Publishes[3].ID = "100-9"
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:3], ev(ms(420), "100-5", "t2"), c.Frames[3])
			c.Frames[4].ID = "100-9"
		},
		"a short wait": func(h *history.History) {
			h.Chains[0].Conns[0].Waits = []history.Wait{{At: ms(500), For: 3 * s}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := base()
			mutate(h)
			vs := Check(h)
			for _, v := range vs {
				t.Log(report.Explain(h, v))
			}
			require.Empty(t, vs)
		})
	}
}

func TestCheckFails(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		want   violation.Kind
		mutate func(h *history.History)
	}{
		"gap without reset": {violation.Gap, func(h *history.History) {
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:1], c.Frames[2:]...)
		}},
		"gap at the resume seam": {violation.Gap, func(h *history.History) {
			split(h, 1, history.EndReset)
			c := h.Chains[0].Conns[1]
			c.Frames = c.Frames[1:]
		}},
		"gap after a fresh subscription": {violation.Gap, func(h *history.History) {
			c := h.Chains[0].Conns[0]
			c.Frames = c.Frames[1:]
		}},
		"the reset covers only the next event": {violation.Gap, func(h *history.History) {
			split(h, 1, history.EndReset, reset(ms(330)))
			c := h.Chains[0].Conns[1]
			c.Frames = append(c.Frames[:2], c.Frames[3:]...) // t3 gone after t2
		}},
		"duplicate at the seam": {violation.Duplicate, func(h *history.History) {
			split(h, 2, history.EndReset)
			c := h.Chains[0].Conns[1]
			c.Frames = append([]history.Frame{ev(ms(320), "100-2", "t2")}, c.Frames...)
		}},
		"out of order": {violation.Order, func(h *history.History) {
			c := h.Chains[0].Conns[0]
			c.Frames[1], c.Frames[2] = c.Frames[2], c.Frames[1]
		}},
		"a retried key acknowledged twice": {violation.Double, func(h *history.History) {
			h.Publishes[1].Key = "k"
			r := pub("t2", "a", "100-5", ms(320))
			r.Key = "k"
			h.Publishes = append(h.Publishes, r)
		}},
		"a retried key delivered twice": {violation.Double, func(h *history.History) {
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:3], append([]history.Frame{ev(ms(420), "100-5", "t2")}, c.Frames[3:]...)...)
			h.Publishes[3].ID = "100-6"
			c.Frames[4].ID = "100-6"
		}},
		"a key answered with another topic's event": {violation.AckMismatch, func(h *history.History) {
			h.Publishes = append(h.Publishes, history.Publish{Token: "b1", Topic: "b", Key: "k", Start: ms(350), Done: ms(351),
				Status: 200, ID: "100-2", Dup: true})
		}},
		"another topic's key answered first": {violation.AckMismatch, func(h *history.History) {
			d := history.Publish{Token: "b1", Topic: "b", Key: "k", Start: ms(290), Done: ms(291), Status: 200, ID: "100-2", Dup: true}
			h.Publishes = append([]history.Publish{d}, h.Publishes...)
		}},
		"an event nobody published": {violation.Phantom, func(h *history.History) {
			h.Chains[0].Conns[0].Frames[1].Token = "zz"
		}},
		"an event of another topic": {violation.Phantom, func(h *history.History) {
			h.Publishes[1].Topic = "b"
		}},
		"corrupt data": {violation.Corrupt, func(h *history.History) {
			h.Chains[0].Conns[0].Frames[1].Corrupt = true
		}},
		"final marker missing": {violation.Undelivered, func(h *history.History) {
			h.QuiesceAt = 4 * s
			c := h.Chains[0].Conns[0]
			c.Frames = c.Frames[:3]
		}},
		"a reading client cut": {violation.Cut, func(h *history.History) {
			split(h, 2, history.EndEOF)
		}},
		"a reset for an id the process still has": {violation.Needless, func(h *history.History) {
			split(h, 1, history.EndClient, history.Frame{At: ms(230), Event: "reset", Reason: "unknown-id"})
			c := h.Chains[0].Conns[1]
			c.Frames = append(c.Frames[:1], c.Frames[2:]...) // and t2 skipped
		}},
		"silent stream": {violation.Silent, func(h *history.History) {
			h.Chains[0].Conns[0].Waits = []history.Wait{{At: ms(500), For: 5 * s}}
		}},
		"silent past what a pause explains": {violation.Silent, func(h *history.History) {
			c := h.Chains[0].Conns[0]
			c.Pauses = []history.Interval{{From: ms(500), To: ms(1500)}}
			c.Waits = []history.Wait{{At: ms(1510), For: 6 * s}}
		}},
		"no answer": {violation.NoAnswer, func(h *history.History) {
			h.Chains[0].Conns = append([]*history.Conn{{Start: 0, End: history.EndNoAnswer, EndAt: 4 * s, Incarnation: -1}}, h.Chains[0].Conns...)
		}},
		"stream not ended after sigkill": {violation.NotEnded, func(h *history.History) {
			split(h, 3, history.EndReset)
			h.Chains[0].Conns[0].EndAt = 4 * s
			h.Chains[0].Conns[0].Waits = []history.Wait{{At: ms(500), For: ms(3500)}}
			h.Faults = []history.Fault{{Kind: history.FaultKill, At: ms(410), Exited: ms(415)}}
		}},
		"stream ended by the client only": {violation.NotEnded, func(h *history.History) {
			split(h, 3, history.EndWatchdog)
			h.Chains[0].Conns[0].EndAt = 6 * s
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(410), Exited: ms(900)}}
		}},
		"sigterm without end of body": {violation.Unclean, func(h *history.History) {
			split(h, 3, history.EndTruncated)
			h.Chains[0].Conns[0].Retries = 2
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(410), Exited: ms(900)}}
		}},
		"sigterm reset after a pause too short for the stall rule": {violation.Unclean, func(h *history.History) {
			split(h, 3, history.EndReset)
			c := h.Chains[0].Conns[0]
			c.Pauses = []history.Interval{{From: ms(100), To: ms(1150)}}
			c.EndAt = ms(2500)
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(2200), Exited: ms(2900)}}
		}},
		"sigterm without a final retry": {violation.Unclean, func(h *history.History) {
			split(h, 3, history.EndEOF)
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(410), Exited: ms(900)}}
		}},
		"sigterm hangs": {violation.Shutdown, func(h *history.History) {
			h.Faults = []history.Fault{{Kind: history.FaultTerm, At: ms(410)}}
		}},
		"descriptor leak": {violation.Leak, func(h *history.History) {
			h.Resources[0].After.FDs = 20
		}},
		"goroutine leak": {violation.Leak, func(h *history.History) {
			h.Resources[0].After.Goroutines = 40
		}},
		"kernel memory not returned": {violation.Leak, func(h *history.History) {
			h.Resources[0].After.Queued = 1 << 20
		}},
		"a cut socket pins memory": {violation.Pinned, func(h *history.History) {
			h.Resources[0].MaxOrphan = 1 << 20
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := base()
			tc.mutate(h)
			vs := Check(h)
			require.Contains(t, kinds(vs), tc.want, "violations: %v", vs)
			for _, v := range vs {
				out := report.Explain(h, v)
				require.Contains(t, out, fmt.Sprintf("seed %d", h.Seed))
				require.Contains(t, out, string(v.Kind))
			}
		})
	}
}

func TestExplainShowsTheProjection(t *testing.T) {
	t.Parallel()
	h := base()
	split(h, 1, history.EndReset)
	c := h.Chains[0].Conns[1]
	c.Frames = c.Frames[1:]
	h.Faults = []history.Fault{{Kind: history.FaultKill, At: ms(215), Exited: ms(216)}}
	vs := Check(h)
	require.Len(t, vs, 1)
	out := report.Explain(h, vs[0])
	t.Log(out)
	for _, want := range []string{"seed 7", "gap", `Last-Event-ID "100-1"`, "t2", "acked 100-2", "sigkill"} {
		require.Contains(t, out, want)
	}
}
