package graphsim

import (
	"net/http"
	"net/url"
	"strconv"
)

// writePage answers a directory collection one page at a time, as Graph
// does: at most $top entries (1 to 999) or the emulator's page size, and an
// @odata.nextLink carrying a $skiptoken while more remain. Clients that read
// only the first page miss the rest, as they would against Graph.
func (c *call) writePage(odataContext string, value []any) {
	q := c.r.URL.Query()
	size := c.s.opts.PageSize
	if top := q.Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 || n > 999 {
			c.badRequest("Request_UnsupportedQuery", "Invalid page size specified: '"+top+"'. Must be between 1 and 999 inclusive.")
			return
		}
		size = min(size, n)
	}
	offset := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(value) {
			c.badRequest("Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
		offset = n
	}
	end := min(offset+size, len(value))
	out := map[string]any{"@odata.context": odataContext, "value": value[offset:end]}
	if end < len(value) {
		next := url.Values{}
		for k, v := range q {
			if k != "$skiptoken" {
				next[k] = v
			}
		}
		next.Set("$skiptoken", strconv.Itoa(end))
		out["@odata.nextLink"] = c.s.URL + "/" + c.version + c.path + "?" + next.Encode()
	}
	c.writeJSON(http.StatusOK, out)
}
