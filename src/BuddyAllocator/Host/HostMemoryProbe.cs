using System;
using System.Globalization;
using System.IO;

namespace LargeFolios.BuddyAllocator;

/// <summary>
/// What the host can give this process now: /proc/meminfo's MemAvailable, and the room left under
/// every memory cgroup the process is in, up to the root it can see (cgroup v2 <c>memory.max</c>
/// minus <c>memory.current</c>, v1 <c>memory.limit_in_bytes</c> minus <c>memory.usage_in_bytes</c>;
/// the inactive page cache in the cgroup's <c>memory.stat</c> counts as room, since the kernel
/// reclaims it before it kills anything). Off Linux, or where none of these can be read, the
/// runtime's own figure (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>, which honours
/// container limits).
/// </summary>
internal static class HostMemoryProbe
{
    // cgroup v1 writes "no limit" as the largest page-aligned long; anything this large is none.
    private const long Unlimited = 1L << 60;

    /// <summary>The bytes the host can give now.</summary>
    public static long RoomBytes()
    {
        if (!OperatingSystem.IsLinux())
            return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

        long room = ReadText("/proc/meminfo") is { } meminfo && MemAvailable(meminfo) is long available
            ? available
            : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (ReadText("/proc/self/cgroup") is { } cgroups)
            room = Math.Min(room, CgroupRoom(cgroups));
        return Math.Max(0, room);
    }

    /// <summary>MemAvailable of a /proc/meminfo text, in bytes; null when it has none.</summary>
    public static long? MemAvailable(string meminfo)
    {
        foreach (string line in meminfo.Split('\n'))
        {
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                continue;
            string[] parts = line["MemAvailable:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kib))
                return kib * 1024;
        }

        return null;
    }

    /// <summary>A cgroup limit file's value: null for "max" (v2), for v1's "no limit", or for what is not a number.</summary>
    public static long? Limit(string text)
    {
        text = text.Trim();
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value < Unlimited ? value : null;
    }

    /// <summary>The inactive page cache a cgroup's memory.stat shows (v2 <c>inactive_file</c>, v1 <c>total_inactive_file</c>), in bytes; 0 when absent.</summary>
    public static long InactiveFile(string stat)
    {
        foreach (string line in stat.Split('\n'))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] is ("inactive_file" or "total_inactive_file")
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long bytes))
                return bytes;
        }

        return 0;
    }

    /// <summary>The least room under the memory cgroups /proc/self/cgroup names, from the process's own up to the mount's root; long.MaxValue when none limits it.</summary>
    private static long CgroupRoom(string cgroups)
    {
        long room = long.MaxValue;
        foreach (string line in cgroups.Split('\n'))
        {
            string[] fields = line.Split(':', 3);
            if (fields.Length != 3)
                continue;
            if (fields[0] == "0" && fields[1].Length == 0)
                room = Math.Min(room, Room("/sys/fs/cgroup", fields[2], "memory.max", "memory.current"));
            else if (Array.IndexOf(fields[1].Split(','), "memory") >= 0)
                room = Math.Min(room, Room("/sys/fs/cgroup/memory", fields[2], "memory.limit_in_bytes", "memory.usage_in_bytes"));
        }

        return room;
    }

    // Limits nest: every level from the process's cgroup up to the root of the mount bounds it.
    private static long Room(string mount, string path, string limitFile, string usageFile)
    {
        long room = long.MaxValue;
        string directory = Path.TrimEndingDirectorySeparator(mount + path.Trim());
        while (directory.StartsWith(mount, StringComparison.Ordinal))
        {
            if (ReadText(Path.Combine(directory, limitFile)) is { } limitText && Limit(limitText) is long limit
                && ReadText(Path.Combine(directory, usageFile)) is { } usageText && long.TryParse(usageText.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long usage))
            {
                long reclaimable = ReadText(Path.Combine(directory, "memory.stat")) is { } stat ? InactiveFile(stat) : 0;
                room = Math.Min(room, limit - Math.Max(0, usage - reclaimable));
            }

            if (directory.Length <= mount.Length)
                break;
            directory = Path.GetDirectoryName(directory) ?? mount;
        }

        return room;
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;   // no such cgroup file, or not ours to read: it bounds nothing we can see
        }
    }
}
