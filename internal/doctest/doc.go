// Package doctest runs the command blocks of README.md and docs/*.md, so that
// a document cannot drift from the programs it describes. It has no API: its
// test does the work.
//
// Every fenced block whose language is sh, bash or shell is a command block.
// The test copies the repository's files into a fresh directory, sets HOME to
// another fresh directory, and runs each document's command blocks in order,
// exactly as printed, in one bash process per document (so that a block's
// exports and its working directory carry over to the next, as in a terminal),
// with -e and -o pipefail: any failing command fails the test. While it runs,
// port 8443 is held by the test, so that the quick start is shown to work on
// a machine where that port is taken.
//
// An HTML comment on the line before a block's opening fence changes how it
// runs; it is invisible on a rendered page:
//
//	<!-- doc: background until="REGEXP" -->
//	    the block runs in the background, as in a second terminal; the next
//	    block starts once its output has a line matching REGEXP (an extended
//	    regular expression), and the block fails if it exits before that.
//	<!-- doc: background run-printed="PREFIX" -->
//	    the same, waiting for a line that starts with PREFIX; the rest of that
//	    line, a command the program printed for the reader to try, is run too.
//	<!-- doc: stdin="TEXT" -->
//	    the block reads TEXT and a newline on standard input (a prompt).
//	<!-- doc: skip="REASON" -->
//	    the block is not run, for the reason given (installing packages, the
//	    test suite itself, a benchmark of many minutes); the test logs it.
//
// Background blocks are ended when their document's last block is done.
package doctest
