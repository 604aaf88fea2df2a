package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Server is a PostgreSQL server of the test's own, for tests that stop,
// restart or freeze it: the shared server of EnvDSN serves other tests that
// must not notice. It listens on a free loopback port, keeps its files in a
// temporary folder, and is stopped and removed when the test ends.
type Server struct {
	tb    testing.TB
	bin   string   // the folder of initdb, pg_ctl and postgres
	as    []string // runuser -u postgres -- when running as root
	dir   string   // data in dir/data, the socket and the log beside it
	port  int
	opts  string
	stopd []int // the processes Freeze stopped
}

// FindBin returns the folder of the PostgreSQL server programs: the one of
// initdb on PATH, or the newest /usr/lib/postgresql/*/bin.
func FindBin() (string, bool) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), true
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, true
		}
	}
	return "", false
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// StartServer creates and starts a server of the test's own. Without the
// PostgreSQL programs it skips the test, except in CI (CI=true), where
// that is a failure.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bin, ok := FindBin()
	if !ok {
		if os.Getenv("CI") == "true" {
			tb.Fatal("the PostgreSQL server programs (initdb, pg_ctl, postgres) are not installed; CI must have them")
		}
		tb.Skip("the PostgreSQL server programs (initdb, pg_ctl, postgres) are not installed")
	}
	s := &Server{tb: tb, bin: bin}
	dir, err := os.MkdirTemp("", "steward-pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	s.dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, PostgreSQL needs the user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		s.as = []string{"runuser", "-u", "postgres", "--"}
	}
	s.run("initdb", "-D", s.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale")
	for attempt := 1; ; attempt++ {
		s.port = freePort(tb)
		s.opts = fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off", s.port, s.dir)
		err := s.pgctl("start")
		if err == nil {
			break
		}
		if attempt == 3 {
			tb.Fatalf("start PostgreSQL: %v\n%s", err, s.log())
		}
	}
	tb.Cleanup(func() {
		s.Thaw()
		if err := s.pgctl("stop", "-m", "immediate"); err != nil {
			tb.Logf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

// DSN returns the URL of the server's postgres database.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	argv := append(slices.Clone(s.as), filepath.Join(s.bin, name))
	argv = append(argv, args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (s *Server) run(name string, args ...string) {
	s.tb.Helper()
	if out, err := s.command(name, args...).CombinedOutput(); err != nil {
		s.tb.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (s *Server) pgctl(action string, args ...string) error {
	argv := []string{"-D", s.data(), "-w", "-t", "60"}
	if action == "start" {
		argv = append(argv, "-l", filepath.Join(s.dir, "server.log"), "-o", s.opts)
	}
	argv = append(argv, args...)
	argv = append(argv, action)
	out, err := s.command("pg_ctl", argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", action, err, bytes.TrimSpace(out))
	}
	return nil
}

// Stop shuts the server down as an administrator would (pg_ctl stop -m
// fast): sessions end with an admin-shutdown error, new connections are refused.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.pgctl("stop", "-m", "fast"); err != nil {
		s.tb.Fatal(err)
	}
}

// Start starts the server again, on the same port and data.
func (s *Server) Start() {
	s.tb.Helper()
	if err := s.pgctl("start"); err != nil {
		s.tb.Fatalf("%v\n%s", err, s.log())
	}
}

// Freeze stops every process of the server with SIGSTOP, the postmaster
// first so that it forks no new one: connections stay open and nothing
// answers, as on a hung machine. Thaw resumes them.
func (s *Server) Freeze() {
	s.tb.Helper()
	pid := s.postmaster()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		s.tb.Fatalf("SIGSTOP the postmaster: %v", err)
	}
	s.stopd = []int{pid}
	for _, c := range children(pid) {
		if syscall.Kill(c, syscall.SIGSTOP) == nil {
			s.stopd = append(s.stopd, c)
		}
	}
}

// Thaw resumes what Freeze stopped.
func (s *Server) Thaw() {
	for i := len(s.stopd) - 1; i >= 0; i-- {
		syscall.Kill(s.stopd[i], syscall.SIGCONT)
	}
	s.stopd = nil
}

// postmaster returns the pid of the running server, from postmaster.pid.
func (s *Server) postmaster() int {
	s.tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		s.tb.Fatalf("the server is not running: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		s.tb.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

// children returns the processes whose parent is pid, from /proc.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
				out = append(out, n)
			}
		}
	}
	return out
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
