namespace LargeFolios.FaultPath;

/// <summary>
/// One parsed line of a scenario. Which fields mean something depends on <see cref="Verb"/>:
/// <see cref="Address"/> and <see cref="Length"/> for the memory commands, <see cref="Text"/> for
/// the THP settings (and <see cref="Order"/> for a size), <see cref="Advice"/> for madvise.
/// </summary>
/// <param name="Verb">The command.</param>
/// <param name="Line">Its line number in the file, from 1.</param>
/// <param name="Address">The virtual address (mmap, munmap, madvise, read, write).</param>
/// <param name="Length">The length in bytes (mmap, munmap, madvise).</param>
/// <param name="Order">The size's order (thp &lt;size&gt;kB).</param>
/// <param name="Text">The setting's word (thp).</param>
/// <param name="Advice">The advice (madvise).</param>
public readonly record struct ScenarioCommand(
    ScenarioVerb Verb,
    int Line,
    ulong Address = 0,
    ulong Length = 0,
    int Order = 0,
    string? Text = null,
    MadviseAdvice Advice = default);
