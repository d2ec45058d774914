using System.Threading;

namespace LargeFolios.Fuzz.Targets;

/// <summary>
/// One thing the harness fuzzes. <see cref="Run"/> feeds it one input and returns a short key for
/// the way the input ended (the in-process engine keeps a mutant whose key it has not seen, a
/// crude stand-in for coverage). An allowed exception (<see cref="AllowedExceptions"/>) is caught
/// inside and becomes the key; a broken property throws <see cref="FindingException"/>; anything
/// else that escapes is a finding of the <c>exception</c> check.
/// </summary>
public interface IFuzzTarget
{
    /// <summary>The name on the command line: scenario, trace, cli.</summary>
    string Name { get; }

    /// <summary>Text inputs get the line and word mutations too; binary ones only byte mutations.</summary>
    bool IsText { get; }

    /// <summary>The largest input the engine makes for this target.</summary>
    int MaxInputBytes { get; }

    /// <summary>Runs one input; <paramref name="abandoned"/> is cancelled when the engine gave up on it (a hang, memory).</summary>
    string Run(byte[] input, CancellationToken abandoned);
}
