#!/bin/sh
# A fork/exec chain: a subshell, a pipeline, a failed cat, then a command
# that does not exist (exit 127).
cd /tmp
(echo sub; ls /nonexistent-agree) 2>/dev/null | wc -l
cat /nonexistent-agree/file 2>/dev/null
sh -c 'exec agree-no-such-command'
