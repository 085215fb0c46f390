package progress

import (
	"fmt"
	"time"

	"github.com/docker/go-units"
)

// total is the whole run's bytes: what it expects, what is done (moved,
// mounted or found there), and what crossed the wire, sampled for the speed.
type total struct {
	start    time.Time
	expected int64
	done     int64
	moved    int64

	samples   []sample
	lastShown time.Time
}

type sample struct {
	at    time.Time
	moved int64
}

// speedWindow is how far back the speed looks: long enough to smooth the
// bursts of parallel transfers, short enough to follow a link that slows.
const speedWindow = 5 * time.Second

func (t *total) sample(now time.Time) {
	t.samples = append(t.samples, sample{at: now, moved: t.moved})
	i := 0
	for i < len(t.samples)-1 && now.Sub(t.samples[i].at) > speedWindow {
		i++
	}
	t.samples = t.samples[i:]
}

// speed is bytes per second over the window; 0 until there is one to tell.
func (t *total) speed() float64 {
	if len(t.samples) < 2 {
		return 0
	}
	first, last := t.samples[0], t.samples[len(t.samples)-1]
	dt := last.at.Sub(first.at).Seconds()
	if dt < 0.5 || last.moved <= first.moved {
		return 0
	}
	return float64(last.moved-first.moved) / dt
}

// remaining reports whether bytes are expected that are not done yet.
func (t *total) remaining() bool { return t.expected > 0 && t.done < t.expected }

// due reports whether plain mode should print the total now (and notes that
// it does): every `every` while bytes remain.
func (t *total) due(now time.Time, every time.Duration) bool {
	if !t.remaining() || t.moved == 0 {
		return false
	}
	last := t.lastShown
	if last.IsZero() {
		last = t.start
	}
	if now.Sub(last) < every {
		return false
	}
	t.lastShown = now
	return true
}

// text is the running total: "12.3MB / 200MB, 3.4MB/s, ETA 55s".
func (t *total) text(now time.Time) string {
	s := fmt.Sprintf("%s / %s", size(t.done), size(t.expected))
	if v := t.speed(); v > 0 {
		s += fmt.Sprintf(", %s/s", size(int64(v)))
		if left := t.expected - t.done; left > 0 {
			s += ", ETA " + eta(time.Duration(float64(left)/v*float64(time.Second)))
		}
	}
	return s
}

// final is the total once the run ended: "200MB in 14.2s, 14.1MB/s", or what
// was done of it when err stopped the run.
func (t *total) final(now time.Time, err error) string {
	if err != nil {
		return fmt.Sprintf("%s of %s", size(t.done), size(t.expected))
	}
	elapsed := now.Sub(t.start)
	s := fmt.Sprintf("%s in %s", size(t.expected), seconds(elapsed))
	if t.moved > 0 && elapsed > 0 {
		s += fmt.Sprintf(", %s/s", size(int64(float64(t.moved)/elapsed.Seconds())))
	}
	return s
}

func size(n int64) string { return units.HumanSize(float64(max(n, 0))) }

// eta rounds a wait to what a person reads: 55s, 3m12s, 1h4m.
func eta(d time.Duration) string {
	switch {
	case d < time.Second:
		return "1s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	s := d.Round(time.Minute).String()
	return s[:len(s)-2] // drop the "0s"
}
