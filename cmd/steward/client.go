package main

import (
	"errors"
	"fmt"

	"github.com/steward-iam/steward/client"
)

// newClient returns a client of the server at base (package client),
// authenticating with token; its errors name the flags that fix them.
func newClient(base, token string) (*client.Client, error) {
	if token == "" {
		return nil, fmt.Errorf("no token: pass --token or set STEWARD_TOKEN (the operator token, or a user token for checks about that user)")
	}
	c, err := client.New(base, token)
	if err != nil {
		return nil, fmt.Errorf("--server %q must be the server's URL, e.g. http://127.0.0.1:8080", base)
	}
	return c, nil
}

// callError explains an error of a call to the server: an answer of the
// server as it is, anything else with a hint about --server.
func callError(err error) error {
	var e *client.Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("%w (is the server running there? see --server)", err)
}
