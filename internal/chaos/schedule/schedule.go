// Package schedule turns a seed into every decision of a chaos run: the
// clients and their timed actions, the bursts of publishes and the faults,
// and the payload each publish carries, so a reader can check its bytes.
package schedule

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"ssehub/internal/chaos/history"
)

// Options are the inputs of a run besides the seed's decisions.
type Options struct {
	Seed         uint64
	Mode         string
	Duration     time.Duration // the chaos phase; the final phase and checks follow
	Clients      int
	ClientBuffer int
	Faults       bool
	// Lossless leaves out the faults that make Redis lose acknowledged
	// events (a restore from an older snapshot, FLUSHALL); Redis is still
	// killed and restarted from its AOF and shut down cleanly.
	Lossless bool
	// Only, when set, runs only these clients (by ID) of the Clients
	// planned: a smaller run aimed at one violation.
	Only []int
}

// Schedule is everything the seed decides: the clients, the bursts and the
// faults, with their times. The same options give the same schedule; only
// the timing of the real processes differs between runs.
type Schedule struct {
	Options
	Instances int
	Topics    []string
	Clients   []ClientPlan
	Bursts    []Burst
	Faults    []FaultPlan
}

// ClientPlan is one client's decisions.
type ClientPlan struct {
	ID        int
	Topics    []string
	Behaviour history.Behaviour
	Instance  int  // where it connects first
	Query     bool // sends its last id as ?lastEventId= instead of the header
	Start     time.Duration
	// FrameDelay is how long a slow client sleeps after each frame.
	FrameDelay time.Duration
	// RcvBuf, when set, is the client's socket receive buffer: small, so a
	// stall fills the server's socket with little data (smallRcvBuf).
	RcvBuf  int
	Actions []Action
	// Seed drives the client's choices at run time that depend on what
	// happened (reconnect delays, the instance after a failed dial).
	Seed uint64
}

// ActionKind is something a client does at a planned time.
type ActionKind string

// The client actions.
const (
	ActStall ActionKind = "stall" // stop reading For, then read again
	ActClose ActionKind = "close" // close the connection (FIN) and resume
	ActReset ActionKind = "reset" // close it with RST (linger 0) and resume
	ActHop   ActionKind = "hop"   // close it and resume on Instance
)

// Action is one planned client action.
type Action struct {
	At       time.Duration
	Kind     ActionKind
	For      time.Duration
	Instance int
}

// Burst is a run of publishes to one topic, back to back.
type Burst struct {
	Index    int
	At       time.Duration
	Topic    string
	Instance int
	// Parallel is how many publishers share the burst: big bursts come from
	// several at once, so they reach the log faster than one reader drains.
	Parallel int
	Events   []PlannedPublish
}

// PlannedPublish is one logical publish: a unique token, maybe a key, and
// how many times the publisher sends it again (as if the reply was lost).
type PlannedPublish struct {
	Token   string
	Topic   string
	Key     string
	Retries int
	// RetryInstance is where retries go (the other instance in Redis mode).
	RetryInstance int
}

// FaultPlan is one planned fault; Down is how long the process stays down.
type FaultPlan struct {
	At       time.Duration
	Kind     history.FaultKind
	Instance int
	Down     time.Duration
}

// numTopics is how many chaos topics the run uses; few, so clients share
// topics and every burst reaches many of them.
const numTopics = 4

// smallRcvBuf is the receive buffer of a client planned with one: small
// beside the kernel's autotuned megabytes, yet not below what a loopback
// segment takes. At 4 KiB the kernel dropped arriving segments that did not
// fit (TCPRcvQDrop, RcvPruned in /proc/net/netstat) and the server's kernel
// resent them only after its retransmission timeout, which doubles each
// time: the likely cause of a reading client that waited 4.1 s for bytes
// the dead server's kernel still held ("silent" and "not-ended" in `make
// chaos` seed 20261203), a delay of the test's own TCP setting.
const smallRcvBuf = 64 << 10

// clientStream is the first PCG stream of the clients: client i draws from
// stream clientStream+i.
const clientStream = 1000

// Generate turns o into a schedule. Each client, the bursts and the faults
// draw from their own PCG stream of the seed, and every plan is generated in
// time order, so fewer clients, no faults or a shorter run (for shrinking)
// leave the other decisions, and the earlier ones, as they were.
func Generate(o Options) Schedule {
	s := Schedule{Options: o, Instances: 1}
	if o.Mode == history.ModeRedis {
		s.Instances = 2
	}
	for i := range numTopics {
		s.Topics = append(s.Topics, fmt.Sprintf("chaos/%d", i))
	}
	for i := range o.Clients {
		if len(o.Only) == 0 || slices.Contains(o.Only, i) {
			s.Clients = append(s.Clients, s.client(rand.New(rand.NewPCG(o.Seed, clientStream+uint64(i))), i))
		}
	}
	s.Bursts = s.bursts(rand.New(rand.NewPCG(o.Seed, 2)))
	if o.Faults {
		s.Faults = s.faults(rand.New(rand.NewPCG(o.Seed, 3)))
	}
	return s
}

func Between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// client plans client id: what it subscribes to and how it reads, then
// its actions.
func (s *Schedule) client(r *rand.Rand, id int) ClientPlan {
	behaviours := s.behaviours()
	c := ClientPlan{
		ID:        id,
		Behaviour: behaviours[r.IntN(len(behaviours))],
		Instance:  r.IntN(s.Instances),
		Query:     r.IntN(4) == 0,
		Start:     Between(r, 0, time.Second),
		Seed:      r.Uint64(),
	}
	perm := r.Perm(len(s.Topics))
	for _, t := range perm[:1+r.IntN(2)] {
		c.Topics = append(c.Topics, s.Topics[t])
	}
	s.reading(r, &c)
	c.Actions = append(c.Actions, s.actions(r, c)...)
	return c
}

// behaviours are the ones to draw from, weighted by repetition; hopping
// needs another instance.
func (s *Schedule) behaviours() []history.Behaviour {
	behaviours := []history.Behaviour{history.Fast, history.Fast, history.Fast, history.Slow, history.Slow,
		history.Stall, history.Stall, history.Stall, history.Never, history.Abrupt, history.Abrupt, history.HalfBody}
	if s.Instances > 1 {
		behaviours = append(behaviours, history.Hop, history.Hop)
	}
	return behaviours
}

// reading plans how c reads: a slow client's delay per frame, a
// never-reading one's stall until the end, and for half the clients that
// stop reading a small receive buffer.
func (s *Schedule) reading(r *rand.Rand, c *ClientPlan) {
	switch c.Behaviour {
	case history.Slow:
		c.FrameDelay = Between(r, 2*time.Millisecond, 25*time.Millisecond)
	case history.Never:
		c.Actions = []Action{{At: c.Start, Kind: ActStall, For: s.Duration}}
	}
	if (c.Behaviour == history.Stall || c.Behaviour == history.Never) && r.IntN(2) == 0 {
		c.RcvBuf = smallRcvBuf
	}
}

// actions plans c's actions from a few seconds after its start to the end
// of the run, a few seconds apart (after the end of a stall).
func (s *Schedule) actions(r *rand.Rand, c ClientPlan) []Action {
	var out []Action
	for at := c.Start + Between(r, time.Second, 4*time.Second); at < s.Duration; {
		a := s.action(r, c.Behaviour, at)
		if a.Kind != "" {
			out = append(out, a)
		}
		at += a.For + Between(r, 2*time.Second, 7*time.Second)
	}
	return out
}

// action plans what a client of behaviour b does at at; no Kind for
// nothing.
func (s *Schedule) action(r *rand.Rand, b history.Behaviour, at time.Duration) Action {
	a := Action{At: at}
	switch b {
	case history.Stall:
		// short stalls end before the server's write times out, long
		// ones after: both sides of the slow-client cut
		a.Kind, a.For = ActStall, Between(r, 300*time.Millisecond, 1800*time.Millisecond)
		if r.IntN(2) == 0 {
			a.For = Between(r, 2*time.Second, 6*time.Second)
		}
	case history.Abrupt, history.HalfBody:
		a.Kind = []ActionKind{ActClose, ActReset}[r.IntN(2)]
	case history.Hop:
		a.Kind, a.Instance = ActHop, r.IntN(s.Instances)
	default:
		// fast and slow clients close now and then too, less often
		if r.IntN(3) == 0 {
			a.Kind = ActClose
		}
	}
	return a
}

// bursts plans the publishes: mostly small bursts, a quarter of them one to
// four times ClientBuffer and one in eight six to eight times, so queues
// fill while clients read.
func (s *Schedule) bursts(r *rand.Rand) []Burst {
	var out []Burst
	for at := Between(r, 300*time.Millisecond, time.Second); at < s.Duration; at += Between(r, 100*time.Millisecond, 1200*time.Millisecond) {
		b := Burst{Index: len(out), At: at, Topic: s.Topics[r.IntN(len(s.Topics))], Instance: r.IntN(s.Instances), Parallel: 1}
		n := 1 + r.IntN(20)
		switch r.IntN(8) {
		case 0, 1:
			n = s.ClientBuffer + r.IntN(3*s.ClientBuffer+1)
			b.Parallel = 1 + r.IntN(4)
		case 2:
			n = 6*s.ClientBuffer + r.IntN(2*s.ClientBuffer+1)
			b.Parallel = 4 + r.IntN(5)
		}
		lastKey := ""
		for i := range n {
			p := PlannedPublish{Token: fmt.Sprintf("b%d.%d", b.Index, i), Topic: b.Topic, RetryInstance: r.IntN(s.Instances)}
			switch k := r.IntN(100); {
			case k < 5 && lastKey != "":
				// the same key on another topic must be another event; once
				// only, so one key never names two publishes of one topic
				p.Key, lastKey = lastKey, ""
				p.Topic = s.Topics[(topicIndex(s.Topics, b.Topic)+1+r.IntN(len(s.Topics)-1))%len(s.Topics)]
			case k < 45:
				p.Key = "k" + p.Token
				lastKey = p.Key
				if r.IntN(6) == 0 {
					p.Retries = 1 + r.IntN(2)
				}
			}
			b.Events = append(b.Events, p)
		}
		out = append(out, b)
	}
	return out
}

func topicIndex(topics []string, t string) int {
	for i, x := range topics {
		if x == t {
			return i
		}
	}
	return 0
}

// faults plans one fault every few seconds, after a quiet start and none in
// the last seconds, so the final phase begins with every process up.
func (s *Schedule) faults(r *rand.Rand) []FaultPlan {
	var out []FaultPlan
	kinds := []history.FaultKind{history.FaultKill, history.FaultTerm}
	if s.Mode == history.ModeRedis {
		kinds = append(kinds, history.FaultKill, history.FaultTerm, history.FaultRedisKill, history.FaultRedisDown)
		if !s.Lossless {
			kinds = append(kinds, history.FaultRedisSave, history.FaultFlushAll)
		}
	}
	for at := Between(r, 3*time.Second, 5*time.Second); at < s.Duration-3*time.Second; at += Between(r, 4*time.Second, 9*time.Second) {
		f := FaultPlan{At: at, Kind: kinds[r.IntN(len(kinds))], Instance: r.IntN(s.Instances), Down: Between(r, 200*time.Millisecond, 2*time.Second)}
		out = append(out, f)
		if f.Kind == history.FaultRedisSave {
			// the snapshot is restored a few seconds later, losing what came between
			at += Between(r, 2*time.Second, 4*time.Second)
			out = append(out, FaultPlan{At: at, Kind: history.FaultRedisReload, Down: f.Down})
		}
	}
	return out
}

// Payload is the data published with token: the token, then padding whose
// length the token decides (mostly small, one in five a few KiB, so a
// stalled client's socket fills), so a reader can check every byte.
func Payload(token string) string {
	h := fnv.New32a()
	h.Write([]byte(token))
	n := h.Sum32()
	pad := 40 + int(n%300)
	if n%5 == 0 {
		pad = 2000 + int(n%6000)
	}
	return fmt.Sprintf(`{"p":%q,"pad":"%s"}`, token, strings.Repeat("x", pad))
}

// TokenOf returns the token of data written by Payload ("" if none).
func TokenOf(data string) string {
	rest, ok := strings.CutPrefix(data, `{"p":"`)
	if !ok {
		return ""
	}
	tok, _, ok := strings.Cut(rest, `"`)
	if !ok {
		return ""
	}
	return tok
}

// MarkerToken is the token of the final event on topic.
func MarkerToken(topic string) string { return "final." + topic }
