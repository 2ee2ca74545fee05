// epoll for utcp sockets (DESIGN.md §3 "epoll and blocking"). The app's epoll fd is a
// real kernel epoll fd: kernel fds are registered in it as usual. utcp sockets are kept
// here, per instance, as an interest list plus a queue of candidates that the engines'
// events fill (a slot changed -> its fds are candidates); epoll_wait checks candidates'
// readiness in shared memory, asks the kernel epoll without blocking, and only then
// sleeps (Client::wait) on the kernel epoll fd, the channel's wake eventfd and the
// instance's own eventfd. Nothing is added to the app's kernel set but the app's fds
// (and a 0.0.0.0 listener's kernel half, under the app's own epoll_data).
#pragma once

#include <sys/epoll.h>

#include <vector>

namespace utcp::preload {

// fd was closed or replaced (dup2): drop it from every instance.
void epoll_forget_fd(int fd);
// fd was an epoll instance and is being closed.
void epoll_close_instance(int fd);
// The fds of every epoll instance (close_range drops those in its range).
std::vector<int> epoll_instance_fds();
// The socket at fd became utcp's (make_utcp): registrations made while it was still a
// kernel socket move to the utcp side (the kernel dropped them with the old socket).
void epoll_socket_became_utcp(int fd);
// Takes the engines' events and queues the fds they concern in every instance.
void epoll_pump_events();

}  // namespace utcp::preload
