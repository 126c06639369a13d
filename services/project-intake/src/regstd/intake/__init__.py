"""Project intake: proposals, overlap check, ballots per stage and lifecycle milestones of joint projects."""
