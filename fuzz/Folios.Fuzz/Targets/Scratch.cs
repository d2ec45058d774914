using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;

namespace LargeFolios.Fuzz.Targets;

/// <summary>A folder of a target's own for the files it hands to code that reads paths; removed on dispose.</summary>
internal sealed class Scratch : IDisposable
{
    public Scratch(string target)
    {
        string root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "folios-fuzz");
        RemoveOrphans(root);
        Path = System.IO.Path.Combine(root, $"{target}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Delete(Path);

    /// <summary>The folders of processes that are gone: afl-fuzz kills its children (a hang), so they never dispose theirs.</summary>
    private static void RemoveOrphans(string root)
    {
        if (!Directory.Exists(root))
            return;
        foreach (string folder in Directory.EnumerateDirectories(root))
        {
            string[] parts = System.IO.Path.GetFileName(folder).Split('-');
            if (parts.Length == 3 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && !IsRunning(pid))
                Delete(folder);
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static void Delete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
