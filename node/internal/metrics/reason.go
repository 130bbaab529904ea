package metrics

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"netplumb.dev/node/internal/spool"
)

// Error reasons become label values, so what varies per call (container ids, addresses,
// namespace paths, process ids) is replaced by a placeholder and the text is cut short.
// Names from the network's config (a master link, a bridge) stay: they are bounded by the
// config and they are what an operator needs to read.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`), "<uuid>"},
	{regexp.MustCompile(`/proc/\d+/`), "/proc/<pid>/"},
	{regexp.MustCompile(`\b[0-9a-fA-F]{12,}\b`), "<id>"},
	{regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?\b`), "<ip>"},
	{regexp.MustCompile(`\b[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){2,7}(/\d{1,3})?`), "<ip>"},
	{regexp.MustCompile(`(/var)?/run/netns/[^\s"':]+`), "<netns>"},
	{regexp.MustCompile(`\b\d{4,}\b`), "<n>"},
}

// maxReasonLen bounds a reason label value (bytes).
const maxReasonLen = 160

// Reason is the errors_total label for a failed operation: "<code>: <message>" for a CNI error
// on stdout, "signal <name>" when the plugin was killed, "exit <n>" when it failed without a
// CNI error.
func Reason(r spool.Record) string {
	switch {
	case r.Code != nil:
		msg := normalizeMsg(r.Msg)
		if msg == "" {
			return fmt.Sprintf("%d", *r.Code)
		}
		return fmt.Sprintf("%d: %s", *r.Code, msg)
	case r.Signal != "":
		return "signal " + r.Signal
	default:
		return fmt.Sprintf("exit %d", r.Exit)
	}
}

func normalizeMsg(msg string) string {
	msg = strings.ToValidUTF8(msg, "?")
	msg = strings.Join(strings.Fields(msg), " ")
	for _, v := range volatile {
		msg = v.re.ReplaceAllString(msg, v.with)
	}
	return truncate(msg, maxReasonLen)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// label makes any string a valid, bounded label value.
func label(s string) string {
	return truncate(strings.ToValidUTF8(s, "?"), 253)
}
