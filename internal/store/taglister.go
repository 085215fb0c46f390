package store

import "context"

// TagLister is a store that can list its repository's tags (a registry
// repository): what a "not found" can be explained with.
type TagLister interface {
	ListTags(ctx context.Context) ([]string, error)
}
