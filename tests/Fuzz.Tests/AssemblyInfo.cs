using Xunit;

// The targets change the process's current directory (the cli target) and the executor measures
// the whole process's memory: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
