"""Publishing a change: git (branches, one commit, push with GitLab merge-request options, worktrees), the
merge-request way of applying a generator plan, and GitLab notes."""
