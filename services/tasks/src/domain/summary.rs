//! Counting statuses into a summary, the way the monthly reviews read it
//! ("completed 23/23, of which 3 regularly implemented").

use super::status::Status;

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// All assignments that existed on the date.
    pub total: u32,
    /// Completed by the deadline.
    pub completed_on_time: u32,
    /// Completed after it.
    pub completed_late: u32,
    /// Open within the deadline.
    pub in_progress: u32,
    /// Open past it.
    pub overdue: u32,
    /// Recurring, reports in.
    pub regular: u32,
    /// Cancelled.
    pub cancelled: u32,
    /// Overdue since before the month.
    pub backlog: u32,
}

impl Counts {
    /// Adds another set of counts to these.
    pub fn absorb(&mut self, other: &Counts) {
        self.total += other.total;
        self.completed_on_time += other.completed_on_time;
        self.completed_late += other.completed_late;
        self.in_progress += other.in_progress;
        self.overdue += other.overdue;
        self.regular += other.regular;
        self.cancelled += other.cancelled;
        self.backlog += other.backlog;
    }

    /// Adds one assignment's status.
    pub fn add(&mut self, status: Status, backlog: bool) {
        self.total += 1;
        match status {
            Status::CompletedOnTime => self.completed_on_time += 1,
            Status::CompletedLate => self.completed_late += 1,
            Status::InProgress => self.in_progress += 1,
            Status::Overdue => self.overdue += 1,
            Status::Regular => self.regular += 1,
            Status::Cancelled => self.cancelled += 1,
        }
        if backlog {
            self.backlog += 1;
        }
    }

    /// Completed.
    pub fn completed(&self) -> u32 {
        self.completed_on_time + self.completed_late
    }

    /// Completed or regularly implemented, over all but the cancelled.
    pub fn completion_rate(&self) -> f64 {
        let base = self.total - self.cancelled;
        if base == 0 {
            0.0
        } else {
            f64::from(self.completed() + self.regular) / f64::from(base)
        }
    }

    /// Completed on time, over completed.
    pub fn on_time_rate(&self) -> f64 {
        if self.completed() == 0 {
            0.0
        } else {
            f64::from(self.completed_on_time) / f64::from(self.completed())
        }
    }

    /// "completed 23/23, of which 3 regularly implemented; 2 overdue (1 backlog)".
    pub fn headline(&self) -> String {
        let base = self.total - self.cancelled;
        let mut out = format!("completed {}/{}", self.completed() + self.regular, base);
        if self.regular > 0 {
            out.push_str(&format!(
                ", of which {} regularly implemented",
                self.regular
            ));
        }
        if self.in_progress > 0 {
            out.push_str(&format!("; {} in progress", self.in_progress));
        }
        if self.overdue > 0 {
            out.push_str(&format!("; {} overdue", self.overdue));
            if self.backlog > 0 {
                out.push_str(&format!(" ({} backlog)", self.backlog));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_reads_like_the_reviews() {
        let mut c = Counts::default();
        for _ in 0..20 {
            c.add(Status::CompletedOnTime, false);
        }
        for _ in 0..3 {
            c.add(Status::Regular, false);
        }
        assert_eq!(
            c.headline(),
            "completed 23/23, of which 3 regularly implemented"
        );
        c.add(Status::Overdue, true);
        c.add(Status::Cancelled, false);
        assert_eq!(
            c.headline(),
            "completed 23/24, of which 3 regularly implemented; 1 overdue (1 backlog)"
        );
        assert!((c.completion_rate() - 23.0 / 24.0).abs() < 1e-9);
        assert_eq!(c.on_time_rate(), 1.0);
    }
}
