package pg

import (
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Filter builds the WHERE clause of a tenant's list query from optional
// conditions, numbering placeholders as it goes. Only conditions written in
// code are added; values always travel as arguments.
type Filter struct {
	conds []string
	args  []any
}

// TenantFilter starts a filter with tenant_id = $1.
func TenantFilter(tenantID uuid.UUID) *Filter {
	return &Filter{conds: []string{"tenant_id = $1"}, args: []any{tenantID}}
}

// Add appends cond, whose "?" stands for v.
func (f *Filter) Add(cond string, v any) {
	f.args = append(f.args, v)
	f.conds = append(f.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(f.args))))
}

// Page ends the query as a newest-first page of UUIDv7 ids before the
// cursor: it returns "WHERE … ORDER BY id DESC LIMIT $n" and the arguments.
func (f *Filter) Page(before uuid.UUID, limit int) (string, []any) {
	if before != uuid.Nil {
		f.Add("id < ?", before)
	}
	f.args = append(f.args, limit)
	return ` WHERE ` + strings.Join(f.conds, " AND ") + ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(f.args)), f.args
}

// Ascending ends the query as an oldest-first page (a stream's next rows):
// it returns "WHERE … ORDER BY id LIMIT $n" and the arguments.
func (f *Filter) Ascending(limit int) (string, []any) {
	f.args = append(f.args, limit)
	return ` WHERE ` + strings.Join(f.conds, " AND ") + ` ORDER BY id LIMIT $` + strconv.Itoa(len(f.args)), f.args
}

// Columns qualifies every column of a comma-separated list with prefix
// ("e." → "e.id, e.tenant_id, …"); with alias, each is also named
// alias+column (`AS "ch.id"`: sqlx's notation for a nested struct's field).
func Columns(prefix, alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		c = strings.TrimSpace(c)
		cols[i] = prefix + c
		if alias != "" {
			cols[i] += ` AS "` + alias + c + `"`
		}
	}
	return strings.Join(cols, ", ")
}
