package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/bench"
	"github.com/steward-iam/steward/internal/synth"
)

// benchCmd generates a synthetic world and measures checks and listings.
type benchCmd struct {
	DB                 string        `name:"db" help:"Where to build the world: sqlite:PATH or a postgres:// URL of an empty database (default: a SQLite file in a temporary folder, removed afterwards)." env:"STEWARD_BENCH_DB" placeholder:"DSN"`
	Size               string        `help:"World size: default (2,000 accounts, 20,000 users, 100,000 memberships) or large (100,000 accounts, 5,000 partners, 1,000,000 users, 5,000,000 memberships)." enum:"default,large" default:"default"`
	Accounts           int           `help:"Override the number of accounts."`
	Partners           int           `help:"Override the number of partner accounts."`
	Users              int           `help:"Override the number of users."`
	MembershipsPerUser float64       `name:"memberships-per-user" help:"Override the average memberships per user."`
	DelegateShare      float64       `name:"delegate-share" help:"Override the share of external memberships that re-delegate." default:"-1"`
	Connections        []int         `help:"HTTP concurrency levels; empty to skip the HTTP measurement." default:"1,16,64"`
	Duration           time.Duration `help:"How long each HTTP measurement runs." default:"5s"`
	Seed               uint64        `help:"Random seed of the world." default:"1"`
	CPUProfile         string        `name:"cpuprofile" help:"Write a CPU profile of the measurements (not of the world's generation) to this file." type:"path"`
	Only               []string      `help:"Measure only these: checks, listings, writes, bulk (default: all)." enum:"checks,listings,writes,bulk"`
}

func (c *benchCmd) size() synth.Size {
	size := synth.Default
	if c.Size == "large" {
		size = synth.Large
	}
	if c.Accounts > 0 {
		size.Accounts = c.Accounts
	}
	if c.Partners > 0 {
		size.Partners = c.Partners
	}
	if c.Users > 0 {
		size.Users = c.Users
	}
	if c.MembershipsPerUser > 0 {
		size.MembershipsPerUser = c.MembershipsPerUser
	}
	if c.DelegateShare >= 0 {
		size.DelegateShare = c.DelegateShare
	}
	size.BigPartnerClients = min(size.BigPartnerClients, size.Accounts-size.Partners)
	size.Seed = c.Seed
	return size
}

// Run builds the world, measures and prints the report as Markdown.
func (c *benchCmd) Run(e *env) error {
	dsn := c.DB
	if dsn == "" {
		dir, err := os.MkdirTemp("", "steward-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dsn = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	db, err := openBenchDatabase(e.ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	cfg := bench.Config{Size: c.size(), Connections: c.Connections, Duration: c.Duration, Progress: e.stderr, Only: c.Only}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	if _, ok := db.(listener); ok {
		// A second node on the same database measures cross-node visibility.
		cfg.SecondNode = func(ctx context.Context) (bench.Store, func(context.Context, func()), func(), error) {
			other, err := openBenchDatabase(ctx, dsn)
			if err != nil {
				return nil, nil, nil, err
			}
			ol := other.(listener)
			return other, func(ctx context.Context, kick func()) { ol.Listen(ctx, nil, kick, kick) }, func() { other.Close() }, nil
		}
	}
	cat := steward.MustCatalogue(steward.DefaultProductPermissions())
	fmt.Fprintf(e.stderr, "steward bench on %s, %d CPUs\n", redactDSN(dsn), runtimeCPUs())
	report, err := bench.Run(e.ctx, db, cat, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Command: `%s`\n\n", benchArgs())
	report.Print(e.stdout)
	return nil
}

type listener interface {
	Listen(ctx context.Context, logger *slog.Logger, onNotify, onReconnect func())
}

// benchDatabase is a database that also takes bulk inserts.
type benchDatabase interface {
	bench.Store
	Close() error
}

// openBenchDatabase opens and migrates dsn and checks that it is empty: the
// benchmark writes a world of its own.
func openBenchDatabase(ctx context.Context, dsn string) (benchDatabase, error) {
	db, err := openDatabase(ctx, dsn)
	if err != nil {
		return nil, err
	}
	bdb, ok := db.(benchDatabase)
	if !ok {
		db.Close()
		return nil, fmt.Errorf("%s cannot take bulk inserts", redactDSN(dsn))
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return bdb, nil
}

func benchArgs() string { return strings.TrimSpace("steward bench " + strings.Join(os.Args[2:], " ")) }

func runtimeCPUs() int { return runtime.NumCPU() }
