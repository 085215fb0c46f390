package commands

import (
	"context"
	"fmt"

	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
)

// openArchive opens an archive SRC or DST.
func openArchive(ctx context.Context, loc location.Location, write bool, force bool) (store.Archive, error) {
	return nil, fmt.Errorf("%s: archives are not wired in yet", loc)
}

// openArchives opens several archive SRCs as one, grouped by image name.
var openArchives func(ctx context.Context, locs []location.Location) (store.Archive, error)
