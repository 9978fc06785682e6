package plan

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/entra"
)

// Passes evaluates scoping filters as the provisioning service documents
// them: a user passes when any filter holds, a filter holds when all its
// clauses do; a null or empty value fails every clause but IS NULL; EQUALS,
// NOT EQUALS and REGEX MATCH are case-sensitive. No filter: everyone passes.
func Passes(u entra.User, filters []events.ScopingFilter) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if holds(u, f.Clauses) {
			return true
		}
	}
	return false
}

func holds(u entra.User, clauses []events.FilterClause) bool {
	for _, c := range clauses {
		if !clauseHolds(u, c) {
			return false
		}
	}
	return true
}

func clauseHolds(u entra.User, c events.FilterClause) bool {
	raw, ok := u.Properties[c.Attribute]
	value := ""
	if ok && raw != nil {
		value = fmt.Sprint(raw)
	}
	if value == "" {
		return c.Operator == "IS NULL"
	}
	first := ""
	if len(c.Values) > 0 {
		first = c.Values[0]
	}
	switch c.Operator {
	case "EQUALS":
		return value == first
	case "NOT EQUALS":
		return value != first
	case "IS TRUE":
		return strings.EqualFold(value, "true")
	case "IS FALSE":
		return strings.EqualFold(value, "false")
	case "IS NULL":
		return false
	case "IS NOT NULL":
		return true
	case "REGEX MATCH", "NOT REGEX MATCH":
		re, err := regexp.Compile(first)
		if err != nil {
			return false
		}
		return re.MatchString(value) == (c.Operator == "REGEX MATCH")
	}
	return false
}
