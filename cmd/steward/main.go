package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Version is the version of the binary, set at build time with
// -ldflags "-X main.Version=v1.2.3".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes. `steward check` answers with them: allowed, denied, or could not tell.
const (
	exitOK     = 0
	exitFailed = 1 // a command failed, or a check was denied, or an audit chain is broken
	exitError  = 2 // bad usage, or an error that prevented an answer
)

// exitCodeError carries an exit code other than exitFailed out of a command.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}
func (e *exitCodeError) Unwrap() error { return e.err }

// silentExit ends a command with a code and no message: it already printed
// its answer (a denied check, a broken audit chain).
func silentExit(code int) error { return &exitCodeError{code: code} }

// run parses args, runs the selected command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	exit := -1
	parser, c, err := newParser(stdout, stderr, func(code int) { exit = code })
	if err != nil {
		fmt.Fprintln(stderr, "steward:", err)
		return exitError
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 { // --help printed and asked to stop
		return exit
	}
	if err != nil {
		fmt.Fprintf(stderr, "steward: %v (see `steward --help`)\n", err)
		return exitError
	}
	logger := newLogger(stderr, c.LogLevel, c.LogFormat)
	err = kctx.Run(&env{ctx: ctx, stdout: stdout, stderr: stderr, logger: logger, json: c.LogFormat == "json"})
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var ce *exitCodeError
	if errors.As(err, &ce) {
		code = ce.code
		if ce.err == nil {
			return code
		}
	}
	fmt.Fprintln(stderr, "steward:", err)
	return code
}

// env is what every command's Run receives.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
	// json is set under --log-format json: what the commands print to
	// stderr for people goes through logger instead, as JSON lines.
	json bool
}

// newLogger builds the one logger of the process; nothing else chooses a handler.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
