//go:build tools

// Package tools pins, beside the oapi-codegen tool, the runtime package the
// Go client that http/openapi_tools_test.go generates imports.
package tools

import _ "github.com/oapi-codegen/runtime"
