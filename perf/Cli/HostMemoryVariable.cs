using LargeFolios.BuddyAllocator;

namespace LargeFolios.Folios.Cli;

/// <summary>
/// <c>FOLIOS_HOST_MEMORY</c>: the host-memory bound of every command (<see cref="HostMemory.Process"/>),
/// a size as the options take them. Unset, the bound is what the host has when the first arena is
/// made, less a margin (<see cref="HostMemory.DefaultLimitBytes"/>). An environment variable rather
/// than an option, so that it reaches every command, replay and scale included, and a shell or CI
/// job can set it once.
/// </summary>
internal static class HostMemoryVariable
{
    /// <summary>The variable's name.</summary>
    public const string Name = "FOLIOS_HOST_MEMORY";

    /// <summary>Sets the process's bound from <paramref name="value"/>, the variable's value (null when unset: nothing changes).</summary>
    /// <returns>What is wrong with the value, naming it and what was expected; null when it was applied or unset.</returns>
    public static string? Apply(string? value)
    {
        if (value == null)
            return null;
        if (!ByteSize.TryParse(value, out long bytes) || bytes <= 0)
            return $"{Name}={value} is not a host-memory bound; expected a positive size, {ByteSize.Expected}";
        HostMemory.Process.LimitBytes = bytes;
        return null;
    }
}
