// Command docs writes the command reference in docs/reference (Markdown, with
// docker/cli-docs-tool, as buildx and compose make theirs) and the man pages
// in docs/man, from the cobra commands themselves: `make docs`, or
//
//	go run ./docs --source docs/reference --man docs/man
//
// Text outside the generated part of a Markdown file (between the
// MARKER_GEN_START and MARKER_GEN_END comments) is kept.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	clidocstool "github.com/docker/cli-docs-tool"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/docker-migrate/docker-migrate/commands"
)

// manDate is the date the man pages carry. It is fixed so that generating
// them twice gives the same files (SOURCE_DATE_EPOCH overrides it).
var manDate = time.Date(2026, time.November, 30, 0, 0, 0, 0, time.UTC)

func main() {
	source := flag.String("source", "docs/reference", "directory of the Markdown reference, read and written")
	man := flag.String("man", "docs/man", "directory of the man pages")
	flag.Parse()
	if err := generate(*source, *man, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
}

// root is the command tree as the docker CLI shows it: docker, then migrate.
func root() (*cobra.Command, error) {
	dockerCli, err := command.NewDockerCli()
	if err != nil {
		return nil, err
	}
	cmd := &cobra.Command{
		Use:               "docker [OPTIONS] COMMAND [ARG...]",
		Short:             "The base command for the Docker CLI.",
		DisableAutoGenTag: true,
	}
	cmd.AddCommand(commands.NewRootCmd(dockerCli))
	return cmd, nil
}

// generate writes the Markdown reference into source and the man pages into
// man; the tool's log lines go to logw.
func generate(source, man string, logw io.Writer) error {
	log.SetOutput(logw)
	log.SetFlags(0)
	cmd, err := root()
	if err != nil {
		return err
	}
	md, err := clidocstool.New(clidocstool.Options{Root: cmd, SourceDir: source, Plugin: true})
	if err != nil {
		return err
	}
	if err := md.GenMarkdownTree(cmd); err != nil {
		return err
	}
	date := manDate
	if cmd, err = root(); err != nil {
		return err
	}
	mp, err := clidocstool.New(clidocstool.Options{
		Root: cmd, SourceDir: source, TargetDir: man, Plugin: true,
		ManHeader: &doc.GenManHeader{Title: "DOCKER", Section: "1", Source: "Docker Migrate", Manual: "Docker Migrate Manual", Date: &date},
	})
	if err != nil {
		return err
	}
	return mp.GenManTree(cmd)
}
