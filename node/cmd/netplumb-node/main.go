// Command netplumb-node is the node side of netplumb, one static binary with a subcommand per
// container of the node plugin DaemonSet:
//
//	netplumb-node install   copy the pinned CNI plugins (and the measuring shim) into the CNI bin dir
//	netplumb-node dhcp      run the CNI dhcp daemon for dhcp-IPAM networks
//	netplumb-node metrics   serve Prometheus metrics of the node's CNI operations and IPAM pools
//	netplumb-node whereabouts-config
//	                        keep the whereabouts plugin's flat file and kubeconfig on the node
//	netplumb-node multus-guard
//	                        keep the CNI config that stops pod sandboxes while Multus is down
//	netplumb-node version   print the version and the plugin pins
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"netplumb.dev/node/internal/buildinfo"
	"netplumb.dev/node/internal/cri"
	"netplumb.dev/node/internal/dhcp"
	"netplumb.dev/node/internal/guard"
	"netplumb.dev/node/internal/install"
	"netplumb.dev/node/internal/ipam"
	"netplumb.dev/node/internal/kube"
	"netplumb.dev/node/internal/metrics"
	"netplumb.dev/node/internal/spool"
	"netplumb.dev/node/internal/wbconfig"
)

// DefaultSrc is where the image keeps the plugins, the shim and their SHA256SUMS.
const DefaultSrc = "/opt/netplumb/plugins"

const usage = `usage: netplumb-node <command> [flags]

commands:
  install    copy the pinned CNI plugins into the host's CNI bin dir (atomic, checksum-verified)
  dhcp       run the CNI dhcp daemon (plugins/ipam/dhcp) in the foreground
  metrics    serve Prometheus metrics of CNI operations, attachments and IPAM pools
  whereabouts-config
             write the whereabouts plugin's whereabouts.conf and kubeconfig onto the node
  multus-guard
             keep the CNI config that stops pod sandboxes while the Multus daemon is down
  manifest   write SHA256SUMS for the files of a directory (image builds)
  version    print the version and the plugin pins

Run "netplumb-node <command> -h" for a command's flags.
`

func main() {
	log.SetFlags(0)
	log.SetPrefix("netplumb-node: ")
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	code := 0
	switch cmd {
	case "install":
		err = runInstall(args)
	case "dhcp":
		code, err = runDHCP(args)
	case "metrics":
		err = runMetrics(args)
	case "whereabouts-config":
		err = runWhereaboutsConfig(args)
	case "multus-guard":
		err = runMultusGuard(args)
	case "manifest":
		err = runManifest(args)
	case "version", "--version", "-version":
		fmt.Printf("netplumb-node %s (%s; containernetworking/plugins %s, whereabouts %s)\n",
			buildinfo.Version, buildinfo.GoVersion(), buildinfo.CNIPlugins, buildinfo.Whereabouts)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "netplumb-node: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		log.Print(err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("netplumb-node "+name, flag.ExitOnError)
	return fs
}

func runInstall(args []string) error {
	fs := newFlags("install")
	src := fs.String("src", DefaultSrc, "directory with the plugins, "+install.ShimName+" and "+install.ManifestName)
	binDir := fs.String("bin-dir", "/opt/cni/bin", "the host's CNI bin dir (as mounted in this container)")
	plugins := fs.String("plugins", "", "comma-separated plugins to install (default: every plugin in the manifest)")
	withShim := fs.Bool("shim", true, "put the measuring shim in front of each plugin (the plugin goes to <bin-dir>/.netplumb/)")
	stateDir := fs.String("state-dir", spool.DefaultState, "the node's netplumb state dir as the host sees it (target of <bin-dir>/.netplumb/state)")
	force := fs.Bool("force", false, "replace plugins in the bin dir that netplumb did not install")
	sleep := fs.Bool("sleep", false, "after installing, wait for SIGTERM and exit 0 (to run as a long-lived container)")
	confDir := fs.String("cni-conf-dir", "", "the host's CNI config dir (as mounted in this container): place or remove the Multus guard there (empty: leave it alone)")
	multusGuard := fs.String("multus-guard", "", "with --cni-conf-dir: the guard config to place as "+guard.FileName+" (empty: remove netplumb's guard)")
	_ = fs.Parse(args)
	if *multusGuard != "" && *confDir == "" {
		return errors.New("--multus-guard needs --cni-conf-dir")
	}
	var names []string
	for _, p := range strings.Split(*plugins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			names = append(names, p)
		}
	}
	_, err := install.Run(install.Options{Src: *src, BinDir: *binDir, Plugins: names, Shim: *withShim,
		StateDir: *stateDir, Force: *force, Log: os.Stdout})
	if err != nil {
		return err
	}
	if *confDir != "" {
		if err := placeGuard(*confDir, *multusGuard, os.Stdout); err != nil {
			return err
		}
	}
	if *sleep {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		<-ctx.Done()
	}
	return nil
}

// placeGuard writes the Multus guard into confDir, or removes netplumb's guard from it when
// content is empty (the guard was turned off).
func placeGuard(confDir, content string, out io.Writer) error {
	path := filepath.Join(confDir, guard.FileName)
	if content == "" {
		removed, err := guard.Remove(confDir)
		if removed {
			fmt.Fprintf(out, "%-10s %s (the Multus guard is off)\n", install.Removed, path)
		}
		return err
	}
	wrote, err := guard.Ensure(confDir, []byte(content))
	switch {
	case err != nil:
		return err
	case wrote:
		fmt.Fprintf(out, "%-10s %s\n", install.Installed, path)
	default:
		fmt.Fprintf(out, "%-10s %s\n", install.Unchanged, path)
	}
	return nil
}

func runMultusGuard(args []string) error {
	fs := newFlags("multus-guard")
	confDir := fs.String("cni-conf-dir", "/host/etc/cni/net.d", "the host's CNI config dir as mounted in this container")
	config := fs.String("config", "", "the guard config (JSON, type multus-shim, no network of its own)")
	interval := fs.Duration("interval", 10*time.Second, "how often the guard is checked and put back if it went missing")
	daemonSet := fs.String("daemonset", "", "<namespace>/<name> of the node plugin's DaemonSet: on SIGTERM the guard is removed only if it is gone or being deleted (empty: the guard always stays)")
	kubeAPI := fs.String("kube-api", "", `Kubernetes API server URL ("": in-cluster)`)
	tokenFile := fs.String("kube-token-file", kube.DefaultTokenFile, "bearer token file")
	caFile := fs.String("kube-ca-file", kube.DefaultCAFile, "CA bundle of the API server (empty for http://)")
	_ = fs.Parse(args)
	if *config == "" {
		return errors.New("--config is required")
	}
	if err := guard.Check([]byte(*config)); err != nil {
		return err
	}
	owner := func(context.Context) (bool, error) { return false, nil }
	if *daemonSet != "" {
		ns, name, ok := strings.Cut(*daemonSet, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("--daemonset %q: expected <namespace>/<name>", *daemonSet)
		}
		c, err := kube.New(*kubeAPI, *tokenFile, *caFile, 10*time.Second)
		if err != nil {
			return err
		}
		owner = daemonSetGone(c, ns, name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return guard.Keep(ctx, *confDir, []byte(*config), *interval, 15*time.Second, owner, os.Stdout)
}

// daemonSetGone asks whether a DaemonSet is gone or being deleted (foreground deletion keeps
// it, with a deletionTimestamp, until its pods are gone).
func daemonSetGone(c *kube.Client, ns, name string) guard.OwnerGone {
	return func(ctx context.Context) (bool, error) {
		var ds struct {
			Metadata struct {
				DeletionTimestamp string `json:"deletionTimestamp"`
			} `json:"metadata"`
		}
		err := c.Get(ctx, "/apis/apps/v1/namespaces/"+ns+"/daemonsets/"+name, &ds)
		if errors.Is(err, kube.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return ds.Metadata.DeletionTimestamp != "", nil
	}
}

func runDHCP(args []string) (int, error) {
	fs := newFlags("dhcp")
	var o dhcp.Options
	fs.StringVar(&o.Binary, "binary", filepath.Join(DefaultSrc, "dhcp"), "the dhcp plugin binary")
	fs.StringVar(&o.SocketPath, "socket", dhcp.DefaultSocket, "daemon socket path as the plugin on the host dials it (-socketpath)")
	fs.StringVar(&o.HostPrefix, "hostprefix", "", "where the host's / is mounted in this container (-hostprefix); the socket is created under it")
	fs.StringVar(&o.PidFile, "pidfile", "", "absolute path for the daemon's pid file (-pidfile)")
	fs.BoolVar(&o.Broadcast, "broadcast", false, "ask DHCP servers to broadcast replies (-broadcast)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "DHCP client timeout per request (-timeout; 0: daemon default 10s)")
	fs.DurationVar(&o.ResendMax, "resendmax", 0, "max delay between resends (-resendmax; 0: daemon default 62s)")
	fs.DurationVar(&o.ResendTimeout, "resendtimeout", 0, "stop resending after this long (-resendtimeout; 0: daemon default 208s)")
	_ = fs.Parse(args)
	o.Extra = fs.Args()
	return dhcp.Run(o, os.Stdout, os.Stderr)
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runMetrics(args []string) error {
	fs := newFlags("metrics")
	listen := fs.String("listen", metrics.DefaultListen, "address to serve /metrics and /healthz on")
	stateDir := fs.String("state-dir", spool.DefaultState, "the node's netplumb state dir (shims' socket, spool and attachments)")
	var hostLocal listFlag
	fs.Var(&hostLocal, "host-local-dir", "host-local state dir to scan for <network>/ reservations (repeatable; default "+ipam.DefaultHostLocalDir+")")
	hostPrefix := fs.String("hostprefix", "", "prefix for host paths named in configs (a host-local dataDir)")
	kubeAPI := fs.String("kube-api", "", `Kubernetes API server URL ("": in-cluster when KUBERNETES_SERVICE_HOST is set; "off": none)`)
	tokenFile := fs.String("kube-token-file", kube.DefaultTokenFile, "bearer token file (read on every request)")
	caFile := fs.String("kube-ca-file", kube.DefaultCAFile, "CA bundle of the API server (empty for http://)")
	interval := fs.Duration("kube-interval", 30*time.Second, "how often whereabouts IPPools and NADs are listed")
	criEndpoint := fs.String("cri-endpoint", "", "the runtime's CRI socket (unix:///path or /path); set: free host-local reservations and Multus cache entries no sandbox holds")
	every := fs.Duration("reconcile-interval", time.Minute, "how often to reconcile (with --cri-endpoint)")
	grace := fs.Duration("reconcile-grace", 5*time.Minute, "never free what is younger (with --cri-endpoint)")
	multusCache := fs.String("multus-cache-dir", "", "Multus' cache dir to reconcile too (with --cri-endpoint; empty: leave it)")
	_ = fs.Parse(args)

	logger := log.New(os.Stderr, "netplumb-node metrics: ", log.LstdFlags)
	cfg := metrics.Config{StateDir: *stateDir, HostLocalDirs: hostLocal, HostPrefix: *hostPrefix,
		KubeInterval: *interval, Log: logger}
	if *criEndpoint != "" {
		if _, err := cri.Target(*criEndpoint); err != nil {
			return err
		}
		if *grace < 10*time.Second {
			return fmt.Errorf("--reconcile-grace %s: at least 10s (a sandbox's CNI ADD holds its reservations before the runtime reports it ready)", *grace)
		}
		endpoint := *criEndpoint
		cfg.Reconcile = &metrics.Reconcile{Interval: *every, Grace: *grace, MultusCacheDir: *multusCache,
			Sandboxes: func(ctx context.Context) ([]cri.Sandbox, error) { return cri.List(ctx, endpoint) }}
		logger.Printf("reconciling every %s against %s (grace %s)", *every, endpoint, *grace)
	}
	switch {
	case *kubeAPI == "off":
	case *kubeAPI == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "":
		logger.Print("not in a cluster: whereabouts pools and NADs are not read (--kube-api sets a server)")
	default:
		c, err := kube.New(*kubeAPI, *tokenFile, *caFile, 10*time.Second)
		if err != nil {
			return err
		}
		cfg.Kube = c
	}
	d := metrics.New(cfg)
	conn, err := d.Listen()
	if err != nil {
		return fmt.Errorf("shims' socket: %w", err)
	}
	defer conn.Close()
	d.Attach(conn)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	logger.Printf("serving on %s (state %s)", ln.Addr(), *stateDir)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go d.Run(ctx)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runWhereaboutsConfig(args []string) error {
	fs := newFlags("whereabouts-config")
	var o wbconfig.Options
	fs.StringVar(&o.Dir, "dir", "/host/etc/cni/net.d/whereabouts.d", "the node's whereabouts.d directory as mounted in this container")
	fs.StringVar(&o.HostDir, "host-dir", "/etc/cni/net.d/whereabouts.d", "the same directory as the host sees it (the flat file names the kubeconfig by this path)")
	fs.StringVar(&o.Namespace, "namespace", "kube-system", "where the plugin keeps IPPools, reservations and leases (the kubeconfig's namespace)")
	fs.StringVar(&o.ReconcilerCron, "reconciler-cron", "", "the flat file's reconciler_cron_expression (empty: left out)")
	fs.StringVar(&o.Server, "kube-api", "", "API server URL for the kubeconfig (empty: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
	fs.StringVar(&o.TokenFile, "kube-token-file", kube.DefaultTokenFile, "the service account token to put into the kubeconfig")
	fs.StringVar(&o.CAFile, "kube-ca-file", kube.DefaultCAFile, "the API server's CA bundle (empty: none)")
	watch := fs.Bool("watch", false, "keep running and rewrite the files when the token or CA changes")
	interval := fs.Duration("interval", 10*time.Second, "with --watch, how often the token and CA are checked")
	_ = fs.Parse(args)
	o.Log = os.Stdout
	if !*watch {
		wrote, err := wbconfig.Write(o)
		if err == nil {
			fmt.Printf("wrote %d file(s) in %s\n", len(wrote), o.Dir)
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return wbconfig.Watch(ctx, o, *interval)
}

func runManifest(args []string) error {
	fs := newFlags("manifest")
	dir := fs.String("dir", DefaultSrc, "directory whose files to list")
	out := fs.String("out", "", "output file (default <dir>/"+install.ManifestName+"; - for stdout)")
	_ = fs.Parse(args)
	entries, err := os.ReadDir(*dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != install.ManifestName && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var w io.Writer = os.Stdout
	if *out != "-" {
		path := *out
		if path == "" {
			path = filepath.Join(*dir, install.ManifestName)
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	return install.WriteManifest(*dir, names, w)
}
