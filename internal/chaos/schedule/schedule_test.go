package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/chaos/history"
)

const s = time.Second

func TestGenerateIsReproducible(t *testing.T) {
	t.Parallel()
	o := Options{Seed: 42, Mode: history.ModeRedis, Duration: 30 * s, Clients: 20, ClientBuffer: 64, Faults: true}
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
		sch := Generate(Options{Seed: seed, Mode: history.ModeRedis, Duration: 60 * s, Clients: 1, ClientBuffer: 64})
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
