package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/stackwave/stackwave/deploy"
)

// progress shows an operation's events as they come.
type progress interface {
	event(deploy.Event)
	// done stops the display after the operation returned.
	done()
}

// newProgress returns the display the mode asks for: live (one line per
// stack, redrawn in place), plain (one line per event) or none; auto is
// live on a terminal and plain otherwise.
func newProgress(mode string, w io.Writer) progress {
	if mode == "auto" {
		mode = "plain"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
			mode = "live"
		}
	}
	switch mode {
	case "none":
		return nopProgress{}
	case "live":
		return newLiveProgress(w)
	}
	return &plainProgress{w: w}
}

type nopProgress struct{}

func (nopProgress) event(deploy.Event) {}
func (nopProgress) done()              {}

// plainProgress prints one line per event.
type plainProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *plainProgress) event(e deploy.Event) {
	p.mu.Lock()
	fmt.Fprintln(p.w, e.String())
	p.mu.Unlock()
}

func (p *plainProgress) done() {}

// liveProgress keeps one line per stack with a spinner, its state and the
// time it has taken, and redraws them in place.
type liveProgress struct {
	mu     sync.Mutex
	w      io.Writer
	stacks map[string]*stackLine
	order  []string
	drawn  int
	frame  int
	stop   chan struct{}
	exited chan struct{}
}

type stackLine struct {
	name    string
	state   string
	detail  string
	started time.Time
	ended   time.Time
	final   bool
	failed  bool
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newLiveProgress(w io.Writer) *liveProgress {
	p := &liveProgress{w: w, stacks: map[string]*stackLine{}, stop: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.frame++
				p.redraw()
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *liveProgress) line(name string, at time.Time) *stackLine {
	l, ok := p.stacks[name]
	if !ok {
		l = &stackLine{name: name, started: at}
		p.stacks[name] = l
		p.order = append(p.order, name)
	}
	return l
}

func (p *liveProgress) event(e deploy.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Stack == "" {
		return
	}
	l := p.line(e.Stack, e.Time)
	switch e.Type {
	case deploy.EventStackApplying, deploy.EventStackRemoving:
		if l.final {
			l.started, l.ended, l.final, l.failed = e.Time, time.Time{}, false, false
		}
		l.state, l.detail = strings.TrimPrefix(string(e.Type), "stack-"), e.Message
	case deploy.EventStackWaiting:
		l.state, l.detail = "waiting", ""
	case deploy.EventServiceWaiting:
		l.detail = e.Service + ": " + e.Message
	case deploy.EventInitScript:
		l.state, l.detail = "initializing", e.Message
	case deploy.EventStackReady, deploy.EventStackRemoved, deploy.EventStackStopped, deploy.EventStackSkipped:
		l.state, l.detail, l.ended, l.final = strings.TrimPrefix(string(e.Type), "stack-"), e.Message, e.Time, true
	case deploy.EventStackFailed:
		l.state, l.detail, l.ended, l.final, l.failed = "failed", firstLine(e.Message), e.Time, true, true
	}
	p.redraw()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// redraw rewrites the lines in place; p.mu is held.
func (p *liveProgress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	names := p.order
	now := time.Now()
	for _, name := range names {
		l := p.stacks[name]
		mark := spinner[p.frame%len(spinner)]
		end := now
		if l.final {
			end = l.ended
			mark = "✓"
			if l.failed {
				mark = "✗"
			} else if l.state == "skipped" {
				mark = "-"
			}
		}
		detail := l.detail
		if len(detail) > 60 {
			detail = detail[:57] + "..."
		}
		fmt.Fprintf(&b, "\x1b[2K%s %-24s %-13s %6.1fs  %s\n", mark, name, l.state, end.Sub(l.started).Seconds(), detail)
	}
	p.drawn = len(names)
	io.WriteString(p.w, b.String())
}

func (p *liveProgress) done() {
	close(p.stop)
	<-p.exited
	p.mu.Lock()
	p.redraw()
	p.mu.Unlock()
}
