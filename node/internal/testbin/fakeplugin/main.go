// Command fakeplugin is a CNI plugin stand-in for tests: what it prints, how long it takes and
// how it ends are read from the "fake" object of the config on stdin.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type behaviour struct {
	Echo        bool   `json:"echo"`        // print argv, env and a digest of stdin as JSON
	Stdout      string `json:"stdout"`      // printed verbatim
	StdoutB64   string `json:"stdoutB64"`   // printed verbatim after base64 decoding
	Stderr      string `json:"stderr"`      //
	StderrB64   string `json:"stderrB64"`   //
	Exit        int    `json:"exit"`        // exit status
	Signal      int    `json:"signal"`      // die of this signal instead
	SleepMs     int    `json:"sleepMs"`     // sleep before ending
	IgnoreStdin bool   `json:"ignoreStdin"` // do not read stdin at all
	PIDFile     string `json:"pidFile"`     // write the process id here first
}

func main() {
	if os.Getenv("FAKE_ECHO_ARGS") != "" { // as a daemon stand-in: print the arguments, exit FAKE_EXIT
		os.Stdout.WriteString(strings.Join(os.Args[1:], " ") + "\n")
		code, _ := strconv.Atoi(os.Getenv("FAKE_EXIT"))
		os.Exit(code)
	}
	var stdin []byte
	var b behaviour
	if os.Getenv("FAKE_IGNORE_STDIN") == "" {
		stdin, _ = io.ReadAll(os.Stdin)
		var conf struct {
			Fake *behaviour `json:"fake"`
		}
		if json.Unmarshal(stdin, &conf) == nil && conf.Fake != nil {
			b = *conf.Fake
		}
	} else {
		b.Stdout = os.Getenv("FAKE_IGNORE_STDIN")
	}
	if b.PIDFile != "" {
		os.WriteFile(b.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	}
	if b.Echo {
		env := os.Environ()
		sort.Strings(env)
		sum := sha256.Sum256(stdin)
		wd, _ := os.Getwd()
		out, _ := json.Marshal(map[string]any{
			"args": os.Args, "env": env, "cwd": wd,
			"stdinLen": len(stdin), "stdinSha256": hex.EncodeToString(sum[:]),
		})
		os.Stdout.Write(append(out, '\n'))
	}
	os.Stdout.WriteString(b.Stdout)
	if raw, err := base64.StdEncoding.DecodeString(b.StdoutB64); err == nil {
		os.Stdout.Write(raw)
	}
	os.Stderr.WriteString(b.Stderr)
	if raw, err := base64.StdEncoding.DecodeString(b.StderrB64); err == nil {
		os.Stderr.Write(raw)
	}
	time.Sleep(time.Duration(b.SleepMs) * time.Millisecond)
	if b.Signal != 0 {
		syscall.Kill(os.Getpid(), syscall.Signal(b.Signal))
		time.Sleep(time.Second)
	}
	os.Exit(b.Exit)
}
