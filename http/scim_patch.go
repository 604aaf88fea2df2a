package http

import (
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	scimfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// applyPatch applies PATCH operations (RFC 7644 §3.5.2), which the library
// parsed and validated, to res: a resource's attributes by their schema
// names, lists as []any. Operations without path carry attribute paths as
// keys of their value ("name.givenName", `emails[type eq "work"].value`).
func applyPatch(res map[string]any, sc schema.Schema, ops []scim.PatchOperation) error {
	sc.Attributes = append(append(schema.Attributes{}, sc.Attributes...), scimExternalID)
	for _, op := range ops {
		if op.Path != nil {
			if err := applyOp(res, sc, op.Op, *op.Path, op.Value); err != nil {
				return err
			}
			continue
		}
		values, ok := op.Value.(map[string]any)
		if !ok {
			return scimerrors.ScimErrorInvalidValue
		}
		for raw, v := range values {
			p, err := filter.ParsePath([]byte(raw))
			if err != nil {
				return scimerrors.ScimErrorInvalidPath
			}
			if err := applyOp(res, sc, op.Op, p, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyOp applies one operation at path p.
func applyOp(res map[string]any, sc schema.Schema, op string, p filter.Path, v any) error {
	attr, ok := sc.Attributes.ContainsAttribute(p.AttributePath.AttributeName)
	if !ok {
		return scimerrors.ScimErrorInvalidPath
	}
	name := attr.Name()
	if attr.Mutability() == "readOnly" {
		return scimerrors.ScimErrorMutability
	}
	if p.ValueExpression != nil {
		return applyFiltered(res, attr, op, p, v)
	}
	if sub := p.AttributePath.SubAttributeName(); sub != "" {
		subAttr, ok := attr.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return scimerrors.ScimErrorInvalidPath
		}
		if attr.MultiValued() {
			// emails.type: every value's sub-attribute.
			for _, e := range asList(res[name]) {
				if m, ok := e.(map[string]any); ok {
					setSub(m, subAttr.Name(), op, v)
				}
			}
			return nil
		}
		m, _ := res[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		setSub(m, subAttr.Name(), op, v)
		res[name] = m
		return nil
	}
	switch {
	case op == scim.PatchOperationRemove && attr.MultiValued() && v != nil:
		// Entra removes members by listing them: {"op":"Remove","path":"members","value":[{"value":"…"}]}.
		gone := map[any]bool{}
		for _, e := range asList(v) {
			gone[identity(e)] = true
		}
		var kept []any
		for _, e := range asList(res[name]) {
			if !gone[identity(e)] {
				kept = append(kept, e)
			}
		}
		res[name] = kept
	case op == scim.PatchOperationRemove:
		delete(res, name)
	case attr.MultiValued() && op == scim.PatchOperationAdd:
		list := asList(res[name])
		seen := map[any]bool{}
		for _, e := range list {
			seen[identity(e)] = true
		}
		for _, e := range asList(v) {
			if !seen[identity(e)] {
				list = append(list, e)
				seen[identity(e)] = true
			}
		}
		res[name] = list
	case attr.MultiValued():
		res[name] = asList(v)
	case attr.AttributeType() == "complex":
		// A complex value replaces or adds the sub-attributes it names and
		// leaves the others (RFC 7644 §3.5.2.1, §3.5.2.3).
		m, _ := res[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		nv, _ := v.(map[string]any)
		for k, x := range nv {
			m[k] = x
		}
		res[name] = m
	default:
		res[name] = v
	}
	return nil
}

// applyFiltered applies an operation to the values of a multi-valued
// attribute that match the path's filter: `emails[type eq "work"].value`,
// `members[value eq "…"]`. Adding or replacing where none matches adds a
// value made of the filter's eq conditions, as Entra expects of
// `emails[type eq "work"].value` on a user without a work email.
func applyFiltered(res map[string]any, attr schema.CoreAttribute, op string, p filter.Path, v any) error {
	if !attr.MultiValued() {
		return scimerrors.ScimErrorInvalidPath
	}
	name, sub := attr.Name(), ""
	if s := p.SubAttributeName(); s != "" {
		subAttr, ok := attr.SubAttributes().ContainsAttribute(s)
		if !ok {
			return scimerrors.ScimErrorInvalidPath
		}
		sub = subAttr.Name()
	}
	match := scimfilter.NewFilterValidator(p.ValueExpression, schema.Schema{Attributes: scimfilter.MultiValuedFilterAttributes(attr)})
	var out []any
	hit := false
	for _, e := range asList(res[name]) {
		m, ok := e.(map[string]any)
		if !ok || match.PassesFilter(m) != nil {
			out = append(out, e)
			continue
		}
		hit = true
		switch {
		case op == scim.PatchOperationRemove && sub == "":
			continue // the value goes
		case sub != "":
			setSub(m, sub, op, v)
		case op == scim.PatchOperationReplace:
			if nv, ok := v.(map[string]any); ok {
				m = nv
			}
		default:
			if nv, ok := v.(map[string]any); ok {
				for k, x := range nv {
					m[k] = x
				}
			}
		}
		out = append(out, m)
	}
	if !hit && op != scim.PatchOperationRemove {
		m := eqValues(p.ValueExpression)
		if m == nil {
			return scimerrors.ScimErrorNoTarget
		}
		if sub != "" {
			m[sub] = v
		} else if nv, ok := v.(map[string]any); ok {
			for k, x := range nv {
				m[k] = x
			}
		}
		out = append(out, m)
	}
	res[name] = out
	return nil
}

// eqValues returns the sub-attribute values a filter of eq conditions
// joined by and pins, or nil for any other filter.
func eqValues(e filter.Expression) map[string]any {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if e.Operator != filter.EQ {
			return nil
		}
		return map[string]any{e.AttributePath.AttributeName: e.CompareValue}
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return nil
		}
		l, r := eqValues(e.Left), eqValues(e.Right)
		if l == nil || r == nil {
			return nil
		}
		for k, v := range r {
			l[k] = v
		}
		return l
	}
	return nil
}

func setSub(m map[string]any, sub, op string, v any) {
	if op == scim.PatchOperationRemove {
		delete(m, sub)
		return
	}
	m[sub] = v
}

func asList(v any) []any {
	switch v := v.(type) {
	case []any:
		return append([]any{}, v...)
	case nil:
		return nil
	default:
		return []any{v}
	}
}

// identity is what tells values of a multi-valued attribute apart: the
// value sub-attribute of a complex value (a member's user id, an address),
// compared without case.
func identity(e any) any {
	if m, ok := e.(map[string]any); ok {
		if s, ok := m["value"].(string); ok {
			return strings.ToLower(s)
		}
		return nil
	}
	return e
}
