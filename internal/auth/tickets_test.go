package auth

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newTickets(t *testing.T, ttl time.Duration) *Tickets {
	t.Helper()
	tk, err := NewTickets(ttl, 100)
	require.NoError(t, err)
	return tk
}

func TestTicketIsRedeemedOnce(t *testing.T) {
	t.Parallel()
	tk := newTickets(t, time.Minute)
	id := &Identity{Subject: "alice", Expires: time.Now().Add(time.Hour)}
	value, ttl, err := tk.Issue(id)
	require.NoError(t, err)
	require.Equal(t, time.Minute, ttl)
	require.Len(t, value, 43)

	got, err := tk.Redeem(value)
	require.NoError(t, err)
	require.Same(t, id, got)
	_, err = tk.Redeem(value)
	require.ErrorIs(t, err, ErrBadTicket)
}

func TestTicketRedeemedOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	tk := newTickets(t, time.Minute)
	value, _, err := tk.Issue(&Identity{Expires: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tk.Redeem(value); err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1), wins.Load())
}

func TestTicketExpires(t *testing.T) {
	t.Parallel()
	tk := newTickets(t, 30*time.Second)
	start := time.Now()
	tk.now = func() time.Time { return start }
	value, _, err := tk.Issue(&Identity{Expires: start.Add(time.Hour)})
	require.NoError(t, err)
	tk.now = func() time.Time { return start.Add(30 * time.Second) }
	_, err = tk.Redeem(value)
	require.ErrorIs(t, err, ErrBadTicket)
}

func TestTicketLivesNoLongerThanItsToken(t *testing.T) {
	t.Parallel()
	tk := newTickets(t, 30*time.Second)
	start := time.Now()
	tk.now = func() time.Time { return start }
	value, ttl, err := tk.Issue(&Identity{Expires: start.Add(5 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, ttl)
	tk.now = func() time.Time { return start.Add(5 * time.Second) }
	_, err = tk.Redeem(value)
	require.ErrorIs(t, err, ErrBadTicket)

	_, _, err = tk.Issue(&Identity{Expires: start})
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestUnknownTicketIsRejected(t *testing.T) {
	t.Parallel()
	_, err := newTickets(t, time.Minute).Redeem("nope")
	require.ErrorIs(t, err, ErrBadTicket)
}
