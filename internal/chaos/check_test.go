package chaos

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const s = time.Second

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// base is a valid history: one client on topic a that receives a1..a3 and
// the marker; every test case changes one thing.
func base() *History {
	return &History{
		Seed: 7, Mode: ModeMemory,
		Bounds: Bounds{Silence: 4 * s, EndAfterKill: 2 * s, EndAfterTerm: 4 * s, StalledCut: 5 * s, ReplaySize: 1000, ReplayAge: 300 * s,
			FDSlack: 3, GoroutineSlack: 5, QueueSlack: 1024, OrphanQueue: 64 << 10},
		Publishes: []Publish{
			pub("t1", "a", "100-1", ms(200)),
			pub("t2", "a", "100-2", ms(300)),
			pub("t3", "a", "100-3", ms(400)),
			pub("m", "a", "100-4", 5*s),
		},
		Markers: map[string]string{"a": "m"},
		Chains: []*Chain{{Client: 0, Topics: []string{"a"}, Behaviour: Fast, Conns: []*Conn{
			conn(0, ms(100), ms(5100), EndRunOver, ev(ms(210), "100-1", "t1"), ev(ms(310), "100-2", "t2"),
				ev(ms(410), "100-3", "t3"), ev(ms(5010), "100-4", "m")),
		}}},
		Resources: []Resources{{Before: Sample{FDs: 10, Goroutines: 20}, After: Sample{At: 6 * s, FDs: 11, Goroutines: 22}}},
	}
}

func pub(token, topic, id string, at time.Duration) Publish {
	return Publish{Token: token, Topic: topic, Start: at, Done: at + ms(5), Status: 200, ID: id}
}

func ev(at time.Duration, id, token string) Frame {
	return Frame{At: at, ID: id, Event: "m", Token: token}
}

func reset(at time.Duration) Frame {
	return Frame{At: at, Event: "reset", Reason: "history-gone"}
}

func conn(inst int, ready, end time.Duration, how End, frames ...Frame) *Conn {
	return &Conn{Instance: inst, Ready: ready, Start: ready - ms(5), EndAt: end, End: how, Frames: frames, Retries: 1}
}

// split ends the chain's only connection after its first n frames and
// resumes the rest on a second connection with the last id received.
func split(h *History, n int, how End, first ...Frame) {
	c := h.Chains[0]
	all := c.Conns[0].Frames
	a := conn(0, c.Conns[0].Ready, all[n-1].At+ms(1), how, all[:n]...)
	b := conn(0, all[n-1].At+ms(20), c.Conns[0].EndAt, EndRunOver, append(first, all[n:]...)...)
	b.LastEventID = all[n-1].ID
	c.Conns = []*Conn{a, b}
}

func kinds(vs []Violation) []Kind {
	var out []Kind
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return out
}

func TestCheckPasses(t *testing.T) {
	t.Parallel()
	cases := map[string]func(h *History){
		"one connection": func(h *History) {},
		"resume with no gap": func(h *History) {
			split(h, 2, EndClient)
		},
		"reset covers what is gone": func(h *History) {
			split(h, 1, EndReset, reset(ms(330)))
			c := h.Chains[0].Conns[1]
			c.Frames = append(c.Frames[:1], c.Frames[2:]...) // t2 gone
			c.Incarnation = 1
			h.Faults = []Fault{{Kind: FaultKill, At: ms(250), Exited: ms(260), Restarted: ms(320)}}
		},
		"a retry answered with the same id": func(h *History) {
			d := pub("t2", "a", "100-2", ms(320))
			d.Dup = true
			h.Publishes = append(h.Publishes, d)
		},
		"a key publishing again after a memory restart": func(h *History) {
			h.Publishes = append(h.Publishes, pub("t2", "a", "200-1", ms(4000)))
			h.Faults = []Fault{{Kind: FaultKill, At: ms(3000), Exited: ms(3010)}}
			c := h.Chains[0].Conns[0]
			c.EndAt = ms(3000)
			c.End = EndReset
			c.Frames = c.Frames[:3]
			next := conn(0, ms(3500), ms(5100), EndRunOver, reset(ms(3501)), ev(ms(4010), "200-1", "t2"), ev(ms(5010), "100-4", "m"))
			h.Publishes[3].ID = "200-2"
			next.Frames[2].ID = "200-2"
			next.Incarnation = 1
			h.Chains[0].Conns = append(h.Chains[0].Conns, next)
		},
		"a duplicate answered before the publish it found": func(h *History) {
			d := pub("t2", "a", "100-2", ms(299))
			d.Dup = true
			h.Publishes = append([]Publish{d}, h.Publishes...)
		},
		"an unacknowledged publish appears once": func(h *History) {
			h.Publishes = append(h.Publishes, Publish{Token: "u", Topic: "a", Start: ms(350), Done: ms(3350), Err: "timeout"})
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:3], append([]Frame{ev(ms(420), "100-5", "u")}, c.Frames[3:]...)...)
			h.Publishes[3].ID = "100-6"
			c.Frames[4].ID = "100-6"
		},
		"events published before the subscription are not owed": func(h *History) {
			h.Chains[0].Conns[0].Ready = ms(250)
			h.Chains[0].Conns[0].Frames = h.Chains[0].Conns[0].Frames[1:]
		},
		"killed instance ends its stream at once": func(h *History) {
			split(h, 3, EndReset)
			h.Faults = []Fault{{Kind: FaultKill, At: ms(410), Exited: ms(415)}}
		},
		"sigterm ends a reading stream cleanly": func(h *History) {
			split(h, 3, EndEOF)
			h.Chains[0].Conns[0].Retries = 2
			h.Faults = []Fault{{Kind: FaultTerm, At: ms(410), Exited: ms(900)}}
		},
		"sigterm may reset a stream that stopped reading": func(h *History) {
			split(h, 3, EndReset)
			h.Chains[0].Conns[0].Pauses = []Interval{{From: ms(400), To: ms(2000)}}
			h.Faults = []Fault{{Kind: FaultTerm, At: ms(410), Exited: ms(900)}}
		},
		"a slow reader drains before it sees the end": func(h *History) {
			split(h, 3, EndTruncated)
			h.Chains[0].Conns[0].EndAt = 6 * s
			h.Chains[0].Conns[0].Waits = []Wait{{At: ms(5000), For: ms(1000)}}
			h.Faults = []Fault{{Kind: FaultKill, At: ms(410), Exited: ms(415)}}
		},
		"a stalled client sees the end when it reads again": func(h *History) {
			split(h, 3, EndEOF)
			h.Chains[0].Conns[0].Pauses = []Interval{{From: ms(300), To: 3 * s}}
			h.Chains[0].Conns[0].EndAt = ms(3100)
			h.Faults = []Fault{{Kind: FaultKill, At: ms(410), Exited: ms(415)}}
		},
		"a client cut after it stopped reading": func(h *History) {
			split(h, 2, EndEOF)
			h.Chains[0].Conns[0].Pauses = []Interval{{From: ms(100), To: ms(300)}}
		},
		"a client the server never served owes no marker": func(h *History) {
			h.QuiesceAt = 4 * s
			h.Chains = append(h.Chains, &Chain{Client: 1, Topics: []string{"a"}, Behaviour: HalfBody, Conns: []*Conn{
				{Start: ms(4100), Status: 400, End: EndStatus, EndAt: ms(4101), Incarnation: -1}}})
		},
		"a reset for an id published before Redis lost its data": func(h *History) {
			h.Mode = ModeRedis
			h.Faults = []Fault{{Kind: FaultFlushAll, At: ms(1500), Restarted: ms(1500)}}
			h.Chains[0].Conns = []*Conn{
				conn(0, ms(100), ms(3001), EndEOF, ev(3*s, "100-1", "t1")), // a slow reader gets t1 late
				conn(0, ms(3050), ms(5100), EndRunOver, reset(ms(3060)), ev(ms(3070), "100-3", "t3"), ev(ms(5010), "100-4", "m")),
			}
			h.Chains[0].Conns[1].LastEventID = "100-1"
		},
		"a key acknowledged twice around a FLUSHALL that began before its first try": func(h *History) {
			h.Mode = ModeRedis
			h.Faults = []Fault{{Kind: FaultFlushAll, At: ms(290), Restarted: ms(310)}}
			h.Publishes[1].Key = "k"
			r := pub("t2", "a", "100-5", ms(405))
			r.Key = "k"
			h.Publishes = append(h.Publishes, r)
			h.Publishes[3].ID = "100-9"
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:3], ev(ms(420), "100-5", "t2"), c.Frames[3])
			c.Frames[4].ID = "100-9"
		},
		"a short wait": func(h *History) {
			h.Chains[0].Conns[0].Waits = []Wait{{At: ms(500), For: 3 * s}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := base()
			mutate(h)
			vs := Check(h)
			for _, v := range vs {
				t.Log(Explain(h, v))
			}
			require.Empty(t, vs)
		})
	}
}

func TestCheckFails(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		want   Kind
		mutate func(h *History)
	}{
		"gap without reset": {KindGap, func(h *History) {
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:1], c.Frames[2:]...)
		}},
		"gap at the resume seam": {KindGap, func(h *History) {
			split(h, 1, EndReset)
			c := h.Chains[0].Conns[1]
			c.Frames = c.Frames[1:]
		}},
		"gap after a fresh subscription": {KindGap, func(h *History) {
			c := h.Chains[0].Conns[0]
			c.Frames = c.Frames[1:]
		}},
		"the reset covers only the next event": {KindGap, func(h *History) {
			split(h, 1, EndReset, reset(ms(330)))
			c := h.Chains[0].Conns[1]
			c.Frames = append(c.Frames[:2], c.Frames[3:]...) // t3 gone after t2
		}},
		"duplicate at the seam": {KindDuplicate, func(h *History) {
			split(h, 2, EndReset)
			c := h.Chains[0].Conns[1]
			c.Frames = append([]Frame{ev(ms(320), "100-2", "t2")}, c.Frames...)
		}},
		"out of order": {KindOrder, func(h *History) {
			c := h.Chains[0].Conns[0]
			c.Frames[1], c.Frames[2] = c.Frames[2], c.Frames[1]
		}},
		"a retried key acknowledged twice": {KindDouble, func(h *History) {
			h.Publishes[1].Key = "k"
			r := pub("t2", "a", "100-5", ms(320))
			r.Key = "k"
			h.Publishes = append(h.Publishes, r)
		}},
		"a retried key delivered twice": {KindDouble, func(h *History) {
			c := h.Chains[0].Conns[0]
			c.Frames = append(c.Frames[:3], append([]Frame{ev(ms(420), "100-5", "t2")}, c.Frames[3:]...)...)
			h.Publishes[3].ID = "100-6"
			c.Frames[4].ID = "100-6"
		}},
		"a key answered with another topic's event": {KindAckMismatch, func(h *History) {
			h.Publishes = append(h.Publishes, Publish{Token: "b1", Topic: "b", Key: "k", Start: ms(350), Done: ms(351),
				Status: 200, ID: "100-2", Dup: true})
		}},
		"another topic's key answered first": {KindAckMismatch, func(h *History) {
			d := Publish{Token: "b1", Topic: "b", Key: "k", Start: ms(290), Done: ms(291), Status: 200, ID: "100-2", Dup: true}
			h.Publishes = append([]Publish{d}, h.Publishes...)
		}},
		"an event nobody published": {KindPhantom, func(h *History) {
			h.Chains[0].Conns[0].Frames[1].Token = "zz"
		}},
		"an event of another topic": {KindPhantom, func(h *History) {
			h.Publishes[1].Topic = "b"
		}},
		"corrupt data": {KindCorrupt, func(h *History) {
			h.Chains[0].Conns[0].Frames[1].Corrupt = true
		}},
		"final marker missing": {KindUndelivered, func(h *History) {
			h.QuiesceAt = 4 * s
			c := h.Chains[0].Conns[0]
			c.Frames = c.Frames[:3]
		}},
		"a reading client cut": {KindCut, func(h *History) {
			split(h, 2, EndEOF)
		}},
		"a reset for an id the process still has": {KindNeedless, func(h *History) {
			split(h, 1, EndClient, Frame{At: ms(230), Event: "reset", Reason: "unknown-id"})
			c := h.Chains[0].Conns[1]
			c.Frames = append(c.Frames[:1], c.Frames[2:]...) // and t2 skipped
		}},
		"silent stream": {KindSilent, func(h *History) {
			h.Chains[0].Conns[0].Waits = []Wait{{At: ms(500), For: 5 * s}}
		}},
		"no answer": {KindNoAnswer, func(h *History) {
			h.Chains[0].Conns = append([]*Conn{{Start: 0, End: EndNoAnswer, EndAt: 4 * s, Incarnation: -1}}, h.Chains[0].Conns...)
		}},
		"stream not ended after sigkill": {KindNotEnded, func(h *History) {
			split(h, 3, EndReset)
			h.Chains[0].Conns[0].EndAt = 4 * s
			h.Chains[0].Conns[0].Waits = []Wait{{At: ms(500), For: ms(3500)}}
			h.Faults = []Fault{{Kind: FaultKill, At: ms(410), Exited: ms(415)}}
		}},
		"stream ended by the client only": {KindNotEnded, func(h *History) {
			split(h, 3, EndWatchdog)
			h.Chains[0].Conns[0].EndAt = 6 * s
			h.Faults = []Fault{{Kind: FaultTerm, At: ms(410), Exited: ms(900)}}
		}},
		"sigterm without end of body": {KindUnclean, func(h *History) {
			split(h, 3, EndTruncated)
			h.Chains[0].Conns[0].Retries = 2
			h.Faults = []Fault{{Kind: FaultTerm, At: ms(410), Exited: ms(900)}}
		}},
		"sigterm without a final retry": {KindUnclean, func(h *History) {
			split(h, 3, EndEOF)
			h.Faults = []Fault{{Kind: FaultTerm, At: ms(410), Exited: ms(900)}}
		}},
		"sigterm hangs": {KindShutdown, func(h *History) {
			h.Faults = []Fault{{Kind: FaultTerm, At: ms(410)}}
		}},
		"descriptor leak": {KindLeak, func(h *History) {
			h.Resources[0].After.FDs = 20
		}},
		"goroutine leak": {KindLeak, func(h *History) {
			h.Resources[0].After.Goroutines = 40
		}},
		"kernel memory not returned": {KindLeak, func(h *History) {
			h.Resources[0].After.Queued = 1 << 20
		}},
		"a cut socket pins memory": {KindPinned, func(h *History) {
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
				out := Explain(h, v)
				require.Contains(t, out, fmt.Sprintf("seed %d", h.Seed))
				require.Contains(t, out, string(v.Kind))
			}
		})
	}
}

func TestExplainShowsTheProjection(t *testing.T) {
	t.Parallel()
	h := base()
	split(h, 1, EndReset)
	c := h.Chains[0].Conns[1]
	c.Frames = c.Frames[1:]
	h.Faults = []Fault{{Kind: FaultKill, At: ms(215), Exited: ms(216)}}
	vs := Check(h)
	require.Len(t, vs, 1)
	out := Explain(h, vs[0])
	t.Log(out)
	for _, want := range []string{"seed 7", "gap", `Last-Event-ID "100-1"`, "t2", "acked 100-2", "sigkill"} {
		require.Contains(t, out, want)
	}
}

func TestGenerateIsReproducible(t *testing.T) {
	t.Parallel()
	o := Options{Seed: 42, Mode: ModeRedis, Duration: 30 * s, Clients: 20, ClientBuffer: 64, Faults: true}
	a, b := Generate(o), Generate(o)
	require.Equal(t, a, b)
	o.Seed = 43
	require.NotEqual(t, a.Bursts, Generate(o).Bursts)
	o.Seed, o.Clients = 42, 5
	require.Equal(t, a.Bursts, Generate(o).Bursts, "fewer clients keep the same bursts")
	require.Equal(t, a.Clients[:5], Generate(o).Clients)
	o.Clients, o.Only = 20, []int{7}
	require.Equal(t, a.Clients[7:8], Generate(o).Clients, "one client alone keeps its plan")
	short := o
	short.Duration = 15 * s
	require.Equal(t, a.Bursts[:len(Generate(short).Bursts)], Generate(short).Bursts, "a shorter run keeps the bursts' prefix")
}

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"b1.2", "final.chaos/0"} {
		require.Equal(t, tok, TokenOf(Payload(tok)))
	}
	require.Empty(t, TokenOf(`{"time":"x"}`))
}

// One key names one publish per topic: otherwise a correct server's
// duplicate answer would look like a key leaking across topics.
func TestGenerateKeysAreOnePublishPerTopic(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		sch := Generate(Options{Seed: seed, Mode: ModeRedis, Duration: 60 * s, Clients: 1, ClientBuffer: 64})
		owner := map[[2]string]string{}
		for _, b := range sch.Bursts {
			for _, p := range b.Events {
				if p.Key == "" {
					continue
				}
				k := [2]string{p.Topic, p.Key}
				if tok, ok := owner[k]; ok {
					require.Equal(t, tok, p.Token, "seed %d: key %s on %s", seed, p.Key, p.Topic)
				}
				owner[k] = p.Token
			}
		}
	}
}
