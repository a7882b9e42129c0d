//! Grids spread over processes: which share of the runs one process trains, from `--shard i/n` or a Slurm
//! job array's variables. The claim on a run is its directory's lock (`sesame_train::run::RunLock`, taken by
//! `finetune`), so shards need no coordination beyond a shared run directory.

/// Which share of a grid's runs one process trains: run k, in the grid's fixed order, belongs to shard
/// `k mod count`. Shards on a shared run directory never train the same run twice: each run is claimed by its
/// directory's lock for as long as it trains, and a finished run is never started again, so a shard that dies
/// leaves its run to a successor (a requeued array task), which resumes it from its last checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Every run in one process.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// `i/n` with `0 ≤ i < n` (0-based, as a Slurm array index).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes i/n with 0 ≤ i < n (e.g. 0/4), got `{text}`");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm array task: `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`, over
    /// `SLURM_ARRAY_TASK_STEP`) of `SLURM_ARRAY_TASK_COUNT`; `None` outside an array job. An array with gaps
    /// (its `SLURM_ARRAY_TASK_MAX` too far for the count) is refused in every task. `var` reads the
    /// environment (a parameter, so that tests need not change the process's environment).
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let number = |name: &str, text: &str| -> Result<usize, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("{name} is `{text}`, not a number"))
        };
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let count = number("SLURM_ARRAY_TASK_COUNT", &count)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(m) => number("SLURM_ARRAY_TASK_MIN", &m)?,
            None => 0,
        };
        let step = match var("SLURM_ARRAY_TASK_STEP") {
            Some(s) => number("SLURM_ARRAY_TASK_STEP", &s)?.max(1),
            None => 1,
        };
        if let Some(max) = var("SLURM_ARRAY_TASK_MAX") {
            let max = number("SLURM_ARRAY_TASK_MAX", &max)?;
            // Every task must see the gaps, not only those whose number lies beyond the count.
            if max < min || (max - min) / step + 1 != count {
                return Err(format!(
                    "the array runs {count} tasks between {min} and {max}, not every {step}th: an array with gaps \
                     (such as 1,5,7) cannot be mapped to shards; pass --shard i/n"
                ));
            }
        }
        let offset = id.checked_sub(min).ok_or_else(|| {
            format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
        })?;
        let index = offset / step;
        if !offset.is_multiple_of(step) || index >= count {
            return Err(format!(
                "array task {id} is not one of {count} tasks from {min} in steps of {step} (an array with gaps, \
                 such as 1,5,7, cannot be mapped to shards: pass --shard i/n)"
            ));
        }
        Ok(Some(Shard { index, count }))
    }

    /// Whether run `k` of the grid belongs to this shard.
    pub fn owns(&self, k: usize) -> bool {
        k % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_parse_and_split_the_runs_without_overlap() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "1/0", "1", "a/2", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        // Every run belongs to exactly one of n shards.
        for n in 1..5 {
            for k in 0..17 {
                let owners = (0..n)
                    .filter(|&i| Shard { index: i, count: n }.owns(k))
                    .count();
                assert_eq!(owners, 1, "run {k} of {n} shards");
            }
        }
    }

    #[test]
    fn slurm_array_variables_give_the_shard() {
        assert_eq!(Shard::from_slurm(env(&[])), Ok(None));
        let three = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(
            Shard::from_slurm(env(&three)),
            Ok(Some(Shard { index: 2, count: 3 }))
        );
        // `--array=1-3` numbers its tasks from 1; `--array=10-14:2` in steps of 2.
        let from_one = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ];
        assert_eq!(
            Shard::from_slurm(env(&from_one)),
            Ok(Some(Shard { index: 0, count: 3 }))
        );
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "14"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ];
        assert_eq!(
            Shard::from_slurm(env(&stepped)),
            Ok(Some(Shard { index: 2, count: 3 }))
        );
        // `--array=1,5,7`: task 7 is the third of three, which a plain offset cannot tell.
        for id in ["1", "7"] {
            let gaps = [
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "7"),
            ];
            let err = Shard::from_slurm(env(&gaps)).expect_err("gaps");
            assert!(err.contains("--shard"), "{err}");
        }
        let garbage = [
            ("SLURM_ARRAY_TASK_ID", "x"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(Shard::from_slurm(env(&garbage))
            .expect_err("x")
            .contains("SLURM_ARRAY_TASK_ID"));
    }
}
