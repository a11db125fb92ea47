package benchreport

// Counts are the connection and delivery tallies, per process and in the report.
type Counts struct {
	Conns         int            `json:"conns"`
	Established   int            `json:"established"`
	Failed        int            `json:"failed"`
	FailReasons   map[string]int `json:"failReasons,omitempty"`
	Dropped       int            `json:"dropped"`
	DropReasons   map[string]int `json:"dropReasons,omitempty"`
	EstablishSec  float64        `json:"establishSec"`
	Expected      uint64         `json:"expected"`
	Received      uint64         `json:"received"`
	Lost          uint64         `json:"lost"`
	Dup           uint64         `json:"duplicated"`
	ConnsWithLoss int            `json:"connsWithLoss"`
	ConnsWithDup  int            `json:"connsWithDup"`
}

// add adds another process's counts to c.
func (c *Counts) add(o Counts) {
	c.Conns += o.Conns
	c.Established += o.Established
	c.Failed += o.Failed
	c.Dropped += o.Dropped
	c.EstablishSec = max(c.EstablishSec, o.EstablishSec)
	c.Expected += o.Expected
	c.Received += o.Received
	c.Lost += o.Lost
	c.Dup += o.Dup
	c.ConnsWithLoss += o.ConnsWithLoss
	c.ConnsWithDup += o.ConnsWithDup
	c.FailReasons = addCounts(c.FailReasons, o.FailReasons)
	c.DropReasons = addCounts(c.DropReasons, o.DropReasons)
}

// Result is what one process's connections saw; the parent merges them.
type Result struct {
	Counts
	Connect Snapshot `json:"connect"`
	Latency Snapshot `json:"latency"`
	First   []int64  `json:"first,omitempty"`
	Last    []int64  `json:"last,omitempty"`
}

// Merge adds another process's result to r.
func (r *Result) Merge(o Result) {
	r.Counts.add(o.Counts)
	r.Connect = r.Connect.add(o.Connect)
	r.Latency = r.Latency.add(o.Latency)
	if r.First == nil {
		r.First, r.Last = make([]int64, len(o.First)), make([]int64, len(o.Last))
	}
	for i := range o.First {
		if f := o.First[i]; f != 0 && (r.First[i] == 0 || f < r.First[i]) {
			r.First[i] = f
		}
		r.Last[i] = max(r.Last[i], o.Last[i])
	}
}

func addCounts(dst, src map[string]int) map[string]int {
	if dst == nil {
		dst = map[string]int{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}
