package pg

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ConnString turns a postgres:// URL into the key/value connection string
// every client of the process is given, with connect_timeout=5 added when
// the URL has none (an unreachable server then fails a request in seconds
// instead of hanging it).
//
// The URL may name several servers the way libpq does, each with its own
// port, for high availability:
//
//	postgres://u:pw@db1:5432,db2:5433/app?target_session_attrs=read-write
//
// lib/pq mis-reads that form (it dials "db1:5432,db2:5433" as one host with
// a port of its own), although it connects to several hosts given as
// key/value settings or as ?port=5432,5433. pgx (River's LISTEN connection)
// reads all of them. So the URL is parsed here, once, the way libpq parses
// it, and both drivers get the same unambiguous key/value form:
//
//	host='db1,db2' port='5432,5433' dbname='app' user='u' password='pw' target_session_attrs='read-write' connect_timeout='5'
//
// As in libpq, query parameters win over the URL's parts (?port= over the
// ports after the hosts, ?host= over the hosts), and a host without a port
// among hosts with ports gets 5432. IPv6 hosts are written in brackets;
// a Unix-socket directory as a percent-encoded path (%2Fvar%2Frun%2Fpostgresql).
func ConnString(rawURL string) (string, error) {
	rest, ok := strings.CutPrefix(rawURL, "postgresql://")
	if !ok {
		rest, ok = strings.CutPrefix(rawURL, "postgres://")
	}
	if !ok {
		return "", errors.New("DATABASE_URL must be a postgres:// URL")
	}
	// Like libpq: user info ends at the first '@' before any '/'; the host
	// list then runs to the first '/' or '?'.
	userinfo := ""
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		userinfo, rest = rest[:i+1], rest[i+1:]
	}
	hostList, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hostList, tail = rest[:i], rest[i:]
	}
	// What remains is an ordinary URL: net/url decodes the user, the
	// database name and the query.
	u, err := url.Parse("postgres://" + userinfo + "h" + tail)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL is not a valid URL: %w", redactErr(err))
	}

	settings := map[string]string{}
	if u.User != nil {
		settings["user"] = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			settings["password"] = pw
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		settings["dbname"] = db
	}
	hosts, ports, err := splitHosts(hostList)
	if err != nil {
		return "", err
	}
	if len(hosts) > 0 {
		settings["host"] = strings.Join(hosts, ",")
	}
	if len(ports) > 0 {
		settings["port"] = strings.Join(ports, ",")
	}
	for k, vs := range u.Query() {
		settings[k] = vs[len(vs)-1] // the last one wins, as in libpq
	}
	if err := checkPorts(settings["host"], settings["port"]); err != nil {
		return "", err
	}
	if settings["connect_timeout"] == "" {
		settings["connect_timeout"] = "5"
	}
	return keyValue(settings), nil
}

// splitHosts splits libpq's "h1[:p1],h2[:p2],…" list. ports is empty when no
// host has one; otherwise it has one entry per host, 5432 where none was given.
func splitHosts(list string) (hosts, ports []string, err error) {
	if list == "" {
		return nil, nil, nil
	}
	anyPort := false
	for _, item := range splitOutsideBrackets(list) {
		host, port := item, ""
		if strings.HasPrefix(item, "[") {
			end := strings.IndexByte(item, ']')
			if end < 0 {
				return nil, nil, fmt.Errorf("DATABASE_URL: host %q lacks its closing ']'", item)
			}
			host, port = item[1:end], item[end+1:]
			if port != "" && !strings.HasPrefix(port, ":") {
				return nil, nil, fmt.Errorf("DATABASE_URL: unexpected %q after host [%s]", port, host)
			}
			port = strings.TrimPrefix(port, ":")
		} else if i := strings.IndexByte(item, ':'); i >= 0 {
			host, port = item[:i], item[i+1:]
		}
		if host, err = url.PathUnescape(host); err != nil {
			return nil, nil, fmt.Errorf("DATABASE_URL: host %q: %w", item, err)
		}
		if host == "" {
			return nil, nil, fmt.Errorf("DATABASE_URL: an empty host in %q", list)
		}
		if port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return nil, nil, fmt.Errorf("DATABASE_URL: host %s has an invalid port %q", host, port)
			}
			anyPort = true
		}
		hosts = append(hosts, host)
		ports = append(ports, port)
	}
	if !anyPort {
		return hosts, nil, nil
	}
	for i, p := range ports {
		if p == "" {
			ports[i] = "5432"
		}
	}
	return hosts, ports, nil
}

// splitOutsideBrackets splits on commas that are not inside [IPv6] brackets.
func splitOutsideBrackets(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// checkPorts applies libpq's rule: one port for every host, or one per host.
func checkPorts(hosts, ports string) error {
	if hosts == "" || ports == "" {
		return nil
	}
	nh, np := strings.Count(hosts, ",")+1, strings.Count(ports, ",")+1
	if np != 1 && np != nh {
		return fmt.Errorf("DATABASE_URL names %d hosts but %d ports: give one port, or one per host", nh, np)
	}
	return nil
}

// keyValue writes settings as key='value' pairs: host, port, dbname, user
// and password first, then the rest by name. Inside the quotes a backslash
// and a single quote are escaped with a backslash (libpq's rules, which lib/pq
// and pgx follow).
func keyValue(settings map[string]string) string {
	first := []string{"host", "port", "dbname", "user", "password"}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		if !slices.Contains(first, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	for _, k := range append(first, keys...) {
		v, ok := settings[k]
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "='" + esc.Replace(v) + "'")
	}
	return b.String()
}

// redactErr drops the URL from a *url.Error: it may hold a password.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
