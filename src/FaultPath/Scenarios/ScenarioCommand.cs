using System.Globalization;

namespace LargeFolios.FaultPath;

/// <summary>
/// One parsed line of a scenario. Which fields mean something depends on <see cref="Verb"/>:
/// <see cref="Address"/> and <see cref="Length"/> for the memory commands (<see cref="Protection"/>
/// for mmap and mprotect; <see cref="NewLength"/> and <see cref="NewAddress"/> for mremap),
/// <see cref="Text"/> for the THP settings (with <see cref="Order"/> for a size, <see cref="Knob"/>
/// for another file), <see cref="Advice"/> for madvise, <see cref="Process"/> for <c>process</c>
/// and for <c>fork</c> (the child's id).
/// </summary>
/// <param name="Verb">The command.</param>
/// <param name="Line">Its line number in the file, from 1.</param>
/// <param name="Address">The virtual address (mmap, munmap, mprotect, mremap's old address, madvise, read, write).</param>
/// <param name="Length">The length in bytes (mmap, munmap, mprotect, madvise; mremap's old length).</param>
/// <param name="Order">The size's order (thp &lt;size&gt;kB).</param>
/// <param name="Text">The setting's word (thp).</param>
/// <param name="Advice">The advice (madvise).</param>
/// <param name="Protection">The protection (mmap, mprotect).</param>
/// <param name="NewLength">mremap's new length.</param>
/// <param name="NewAddress">mremap's target address (MREMAP_MAYMOVE | MREMAP_FIXED); null to resize in place.</param>
/// <param name="Process">The process a <c>process</c> line switches to, or the id a <c>fork</c> gives its child.</param>
/// <param name="Knob">The file a <c>thp &lt;file&gt; &lt;value&gt;</c> line writes.</param>
public readonly record struct ScenarioCommand(
    ScenarioVerb Verb,
    int Line,
    ulong Address = 0,
    ulong Length = 0,
    int Order = 0,
    string? Text = null,
    MadviseAdvice Advice = default,
    MemoryProtection Protection = MemoryProtection.ReadWrite,
    ulong NewLength = 0,
    ulong? NewAddress = null,
    int Process = 0,
    ThpKnob Knob = default)
{
    /// <summary>The command as a scenario line in canonical form (numbers in hex, one space between words): what error messages quote.</summary>
    public override string ToString() => Verb switch
    {
        ScenarioVerb.ThpEnabled => $"thp enabled {Text}",
        ScenarioVerb.ThpSize => $"thp {ThpPolicy.SizeName(Order)} {Text}",
        ScenarioVerb.ThpKnob => $"thp {ThpPolicy.KnobPath(Knob)} {Text}",
        ScenarioVerb.Mmap => $"mmap {Hex(Address)} {Hex(Length)} {ProtectionName(Protection)}",
        ScenarioVerb.Munmap => $"munmap {Hex(Address)} {Hex(Length)}",
        ScenarioVerb.Mprotect => $"mprotect {Hex(Address)} {Hex(Length)} {ProtectionName(Protection)}",
        ScenarioVerb.Mremap => NewAddress is { } to
            ? $"mremap {Hex(Address)} {Hex(Length)} {Hex(NewLength)} {Hex(to)}"
            : $"mremap {Hex(Address)} {Hex(Length)} {Hex(NewLength)}",
        ScenarioVerb.Madvise => $"madvise {Hex(Address)} {Hex(Length)} {AdviceName(Advice)}",
        ScenarioVerb.Write => $"write {Hex(Address)}",
        ScenarioVerb.Read => $"read {Hex(Address)}",
        ScenarioVerb.Process => $"process {Process.ToString(CultureInfo.InvariantCulture)}",
        _ => Verb.ToString().ToLowerInvariant(),
    };

    /// <summary>The word a scenario gives a protection: <c>rw</c>, <c>r</c> or <c>none</c>.</summary>
    public static string ProtectionName(MemoryProtection protection) => protection switch
    {
        MemoryProtection.ReadWrite => "rw",
        MemoryProtection.Read => "r",
        _ => "none",
    };

    /// <summary>The word a scenario gives an advice: <c>hugepage</c>, <c>populate_read</c>, <c>wipeonfork</c>, ...</summary>
    public static string AdviceName(MadviseAdvice advice) => advice switch
    {
        MadviseAdvice.HugePage => "hugepage",
        MadviseAdvice.NoHugePage => "nohugepage",
        MadviseAdvice.DontNeed => "dontneed",
        MadviseAdvice.Free => "free",
        MadviseAdvice.PopulateRead => "populate_read",
        MadviseAdvice.PopulateWrite => "populate_write",
        MadviseAdvice.Collapse => "collapse",
        MadviseAdvice.DontFork => "dontfork",
        MadviseAdvice.DoFork => "dofork",
        MadviseAdvice.WipeOnFork => "wipeonfork",
        _ => "keeponfork",
    };

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
